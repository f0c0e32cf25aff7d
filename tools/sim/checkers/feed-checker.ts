import type { Json } from '../../../src/rsm/app.js';
import type { FeedEvent } from '../../../src/rsm/feed.js';
import type { Simulation } from '../simulation.js';

/**
 * One stretch of a watcher's subscription: it asked for the events after `after` and received
 * `events`, and its position (the last it was told it has, events or progress) is `through`. A
 * stretch ends when the watcher starts another subscription (after its own position, or after a
 * compaction's `compactedThrough`).
 */
interface Stretch {
  readonly after: number;
  readonly events: FeedEvent[];
  through: number;
  /** Set once the stretch is over: why. */
  end: string | null;
}

/**
 * A watcher's record, kept by its own subscription handlers as the run goes. `F` is what the
 * reference needs to know of its filter (the feed run: a prefix of the item or null; the KV run:
 * the watch filter).
 */
export class WatcherLog<F = string | null> {
  readonly stretches: Stretch[] = [];

  constructor(
    readonly name: string,
    /** Which events it asked for. */
    readonly filter: F,
    readonly sim: Simulation,
  ) {}

  /** A new subscription after `after`. */
  subscribed(after: number): void {
    const last = this.stretches.at(-1);
    if (last !== undefined && last.end === null) last.end = 'resubscribed';
    this.stretches.push({ after, events: [], through: after, end: null });
  }

  /** Events the subscription delivered: checked for order and duplicates at once. */
  events(events: readonly FeedEvent[], through: number): void {
    const s = this.#current();
    for (const e of events) {
      const last = s.events.at(-1)?.position ?? s.after;
      if (e.position <= last) this.sim.fail(`feed: watcher ${this.name} got position ${e.position} after ${last} (a duplicate or a reorder)`);
      s.events.push(e);
    }
    this.progress(through);
  }

  progress(through: number): void {
    const s = this.#current();
    if (through < s.through) this.sim.fail(`feed: watcher ${this.name}'s position went back from ${s.through} to ${through}`);
    s.through = Math.max(s.through, through);
  }

  ended(why: string): void {
    const s = this.stretches.at(-1);
    if (s !== undefined && s.end === null) s.end = why;
  }

  get position(): number {
    return this.stretches.at(-1)?.through ?? 0;
  }

  #current(): Stretch {
    const s = this.stretches.at(-1);
    if (s === undefined || s.end !== null) throw new Error(`feed checker: watcher ${this.name} received outside a subscription`);
    return s;
  }
}

/** `value` as JSON with every object's keys sorted: two events compare equal whatever order their fields were built in. */
export function canonicalJson(value: Json | undefined): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'object' && v !== null && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}

/**
 * The feed's true history, as the run knows it: `head`, the last position it reached, and the
 * event a watcher with filter `F` must receive at each position up to it (null: the filter leaves
 * that position out). Built by each run its own way (the feed run: from the final state, which
 * keeps every item; the KV run: from the primaries' committed states, kv-reference.ts).
 */
export interface FeedReference<F> {
  readonly head: number;
  /** The event at `position` for `filter`: null when the filter leaves the position out; undefined when the reference does not know it (not checked). */
  expected(filter: F, position: number): Json | null | undefined;
}

/** The reference of a feed whose every event is still in `events` (`events[p - 1]` at position p), filtered by item prefix. */
export function listReference(events: readonly Json[]): FeedReference<string | null> {
  return {
    head: events.length,
    expected: (prefix, p) => {
      const truth = events[p - 1] ?? null;
      return prefix === null || (typeof truth === 'string' && truth.startsWith(prefix)) ? truth : null;
    },
  };
}

/**
 * Checks every watcher's events against the feed's true history (`reference`). For each stretch
 * of each watcher: every event it received is the one its filter gives at its position (no event
 * that did not happen, none altered), and it received every event its filter gives between where
 * it started and the position it reached (no gap); order and duplicates were checked as they came
 * (`WatcherLog.events`).
 */
export function checkWatchers<F>(sim: Simulation, watchers: ReadonlyArray<WatcherLog<F>>, reference: FeedReference<F>): { readonly events: number; readonly stretches: number } {
  let events = 0;
  let stretches = 0;
  for (const w of watchers) {
    for (const s of w.stretches) {
      stretches++;
      if (s.through > Math.max(s.after, reference.head)) sim.fail(`feed: watcher ${w.name} reached position ${s.through}, past the feed's head ${reference.head}`);
      const got = new Map(s.events.map((e) => [e.position, e.event]));
      for (const e of s.events) {
        const truth = e.position <= reference.head ? reference.expected(w.filter, e.position) : null;
        if (truth !== undefined && canonicalJson(truth) !== canonicalJson(e.event)) {
          sim.fail(`feed: watcher ${w.name} got ${JSON.stringify(e.event)} at position ${e.position}, where the feed has ${JSON.stringify(truth)}`);
        }
      }
      for (let p = s.after + 1; p <= Math.min(s.through, reference.head); p++) {
        const truth = reference.expected(w.filter, p);
        if (truth !== null && truth !== undefined && !got.has(p)) {
          sim.fail(`feed: watcher ${w.name} never got position ${p} (${JSON.stringify(truth)}), though it subscribed after ${s.after} and reached ${s.through} (a gap; stretch ended ${s.end ?? 'open'})`);
          break;
        }
      }
      events += s.events.length;
    }
  }
  return { events, stretches };
}
