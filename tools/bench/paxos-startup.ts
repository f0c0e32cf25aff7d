/**
 * Start-up time and heap of one node's Paxos and view history after many views, with and without
 * log compaction (PaxosOptions.retainedViews / compactAfterViews):
 *
 *   node dist/tools/bench/paxos-startup.js [views]        (default 10000)
 *
 * For each setting it writes a real data directory (FileLog, FileSnapshot) by running a Paxos core
 * over a PaxosStore through `views` decided views (each with a promise and an acceptance first:
 * three records per view), then starts a fresh process on it that loads the store, replays it into
 * a core, loads the config layer's view history and the RSM's primaries from it, and reports the
 * time that took and the heap it holds (after a full GC), with the files on disk.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ViewHistory } from '../../src/config/view-history.js';
import { silentLogger } from '../../src/env/logger.js';
import { Outbox } from '../../src/env/outbox.js';
import type { NodeStorage } from '../../src/env/world.js';
import type { PaxosOptions } from '../../src/options.js';
import type { PaxosMessage, PaxosRecord } from '../../src/paxos/messages.js';
import { Paxos, paxosTimers } from '../../src/paxos/paxos.js';
import { PaxosStore } from '../../src/paxos/paxos-store.js';
import { PrimaryHistory } from '../../src/rsm/primary.js';
import { dataDirStorage } from '../../src/runtime/data-dir-storage.js';
import { Prng } from '../sim/prng.js';

/** Compaction never due: the setting before this change (one log, every view kept). */
const never: Partial<PaxosOptions> = { retainedViews: 1_000_000_000, compactAfterViews: 1_000_000_000 };
const settings: ReadonlyArray<{ name: string; options: Partial<PaxosOptions> }> = [
  { name: 'without compaction', options: never },
  { name: 'with compaction (defaults: keep 1024, compact every 1024)', options: {} },
];
/** Views decided between two syncs while writing (a faster write; start-up does not care). */
const syncEveryViews = 100;

const addresses = ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'];
const viewOf = (vid: number): string[] => (vid % 2 === 0 ? addresses.slice(0, 2) : addresses);

function storage(dir: string): NodeStorage {
  return dataDirStorage(dir, { logger: silentLogger });
}

function core(options: Partial<PaxosOptions>): Paxos {
  return new Paxos({ self: addresses[0]!, first: addresses[0]!, listener: { onDecided: () => {} }, random: new Prng(1), logger: silentLogger, options });
}

async function write(dir: string, views: number, options: Partial<PaxosOptions>): Promise<void> {
  const store = new PaxosStore({ world: storage(dir), name: 'paxos', logger: silentLogger });
  store.load();
  const paxos = core(options);
  const run = (handler: (out: Outbox<PaxosMessage, PaxosRecord>) => void): void => {
    const out = new Outbox<PaxosMessage, PaxosRecord>();
    handler(out);
    for (const r of out.records) store.append(r);
    if (out.timers.some((t) => t.key === paxosTimers.compact && t.delayMs !== null)) run((o) => paxos.onTimer(paxosTimers.compact, o));
  };
  const peer = addresses[1]!;
  for (let vid = 2; vid <= views; vid++) {
    const n = { round: vid, node: peer };
    run((out) => paxos.onMessage(peer, { kind: 'prepare', instance: vid, n }, out));
    run((out) => paxos.onMessage(peer, { kind: 'accept', instance: vid, n, value: viewOf(vid) }, out));
    run((out) => paxos.onMessage(peer, { kind: 'decided', instance: vid, value: viewOf(vid) }, out));
    if (vid % syncEveryViews === 0) await new Promise<void>((resolve, reject) => store.sync((err) => (err === undefined ? resolve() : reject(err))));
  }
  await new Promise<void>((resolve, reject) => store.sync((err) => (err === undefined ? resolve() : reject(err))));
  await store.close();
}

/** In a fresh process: load, replay, build the view history and primaries; report time and heap. */
function measure(dir: string, options: Partial<PaxosOptions>): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  const store = new PaxosStore({ world: storage(dir), name: 'paxos', logger: silentLogger });
  const { snapshot, records } = store.load();
  const paxos = core(options);
  paxos.restore(snapshot === null ? records : [{ kind: 'snapshot', snapshot, why: 'replayed' }, ...records]);
  const history = new ViewHistory(addresses[0]!);
  history.load(paxos.oldestKnown, paxos.highestKnown, (i) => paxos.decided(i));
  const primaries = new PrimaryHistory();
  for (let v = history.oldest; v <= history.vid; v++) primaries.add(v, history.members(v));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  gc?.();
  const heapBytes = process.memoryUsage().heapUsed - heapBefore;
  const keep = [store, paxos, history, primaries]; // alive until measured
  process.stdout.write(JSON.stringify({ ms, heapBytes, records: records.length, snapshot: snapshot !== null, oldest: paxos.oldestKnown, highest: paxos.highestKnown, kept: paxos.keptValues, alive: keep.length }));
}

async function main(): Promise<void> {
  const [mode, dir, setting] = process.argv.slice(2);
  if (mode === 'measure') {
    measure(dir!, settings[Number(setting)]!.options);
    return;
  }
  const views = Number(mode ?? 10_000);
  const self = fileURLToPath(import.meta.url);
  console.log(`paxos start-up after ${views} decided views (3 records per view; a real node writes about 4.5)`);
  for (const [i, s] of settings.entries()) {
    const dir = mkdtempSync(join(tmpdir(), 'synod-paxos-bench-'));
    try {
      await write(dir, views, s.options);
      const files = readdirSync(dir).sort();
      const bytes = files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
      // Three start-ups, the median reported: the first pays for cold caches.
      const runs = [0, 1, 2].map(() => JSON.parse(execFileSync(process.execPath, ['--expose-gc', self, 'measure', dir, String(i)], { encoding: 'utf8' })) as
        { ms: number; heapBytes: number; records: number; snapshot: boolean; oldest: number; highest: number; kept: number });
      runs.sort((a, b) => a.ms - b.ms);
      const m = runs[1]!;
      console.log(`${s.name}:\n  files ${files.join(' ')} (${(bytes / 1024).toFixed(0)} KiB)\n` +
        `  start-up ${m.ms.toFixed(1)} ms (runs: ${runs.map((r) => r.ms.toFixed(1)).join(', ')}), heap held ${(m.heapBytes / 1024).toFixed(0)} KiB, ` +
        `replayed ${m.snapshot ? 'a snapshot + ' : ''}${m.records} records, views kept ${m.oldest}..${m.highest} (${m.kept})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

await main();
