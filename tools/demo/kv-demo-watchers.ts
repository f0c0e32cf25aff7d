/**
 * The KV demo's watchers and the checks on what they saw: a `Follower` takes every event of a
 * `KvWatch` as it comes (and may mirror the keys it sees); `compareEvents` says whether a
 * watcher's events are exactly a reference list (the history read afresh): same changes, same
 * order, none missed, none repeated.
 */
import type { KvWatch } from '../../src/apps/kv/kv-watch-stream.js';
import type { KeyValue, KvWatchEvent } from '../../src/apps/kv/kv-client-types.js';
import { sleep } from '../harness/node-process.js';

/** One event as a comparable line: revision, type, key (and a put's value). */
export const eventLine = (e: KvWatchEvent): string => `${e.revision} ${e.type} ${e.kv.key}${e.type === 'put' ? ` = ${e.kv.value}` : ''}`;

export class Follower {
  readonly events: KvWatchEvent[] = [];
  /** The keys as the watcher's events (on top of its snapshot, if it had one) make them. */
  readonly mirror = new Map<string, KeyValue>();
  error: Error | null = null;
  readonly done: Promise<void>;

  /** `delayMs`: how long it dawdles over each event (a slow reader); default 0. */
  constructor(readonly name: string, readonly watch: KvWatch, snapshot: readonly KeyValue[] = [], readonly delayMs = 0) {
    for (const kv of snapshot) this.mirror.set(kv.key, kv);
    this.done = this.#run();
  }

  async #run(): Promise<void> {
    try {
      for await (const e of this.watch) {
        this.events.push(e);
        if (e.type === 'put') this.mirror.set(e.kv.key, e.kv);
        else this.mirror.delete(e.kv.key);
        if (this.delayMs > 0) await sleep(this.delayMs);
      }
    } catch (err) {
      this.error = err as Error;
    }
  }

  /** Waits until the watcher has had every change up to `revision` (false after `timeoutMs`, or if it failed). */
  async reached(revision: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.watch.position < revision) {
      if (this.error !== null || Date.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  close(): void {
    this.watch.close();
  }
}

/** Reads `watch` until it has had every change up to `through`; closes it; returns the events (rejects after `timeoutMs`). */
export async function readThrough(watch: KvWatch, through: number, timeoutMs: number): Promise<KvWatchEvent[]> {
  const f = new Follower('reference', watch);
  const ok = await f.reached(through, timeoutMs);
  f.close();
  if (!ok) throw new Error(`a watch did not reach revision ${through} within ${timeoutMs} ms${f.error === null ? '' : `: ${f.error.message}`}`);
  return f.events.filter((e) => e.revision <= through);
}

/** null when `got` is exactly `want`; else what differs first (a missed, repeated, reordered or foreign event). */
export function compareEvents(got: readonly KvWatchEvent[], want: readonly KvWatchEvent[]): string | null {
  const seen = new Set<string>();
  for (const e of got) {
    const line = eventLine(e);
    if (seen.has(line)) return `repeated: ${line}`;
    seen.add(line);
  }
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const g = got[i];
    const w = want[i];
    if (g === undefined) return `missed: ${eventLine(w!)} (and ${want.length - i - 1} more)`;
    if (w === undefined) return `not in the history: ${eventLine(g)}`;
    if (eventLine(g) !== eventLine(w)) return `event ${i + 1}: got ${eventLine(g)}, the history has ${eventLine(w)}`;
  }
  return null;
}

/** null when the two key sets are equal (key, value, modRevision); else the first difference. */
export function compareKeys(mirror: ReadonlyMap<string, KeyValue>, store: readonly KeyValue[]): string | null {
  if (mirror.size !== store.length) return `${mirror.size} keys mirrored, ${store.length} in the store`;
  for (const kv of store) {
    const m = mirror.get(kv.key);
    if (m === undefined || m.value !== kv.value || m.modRevision !== kv.modRevision) return `key ${kv.key}: mirrored ${m === undefined ? 'nothing' : `${m.value}@${m.modRevision}`}, store ${kv.value}@${kv.modRevision}`;
  }
  return null;
}
