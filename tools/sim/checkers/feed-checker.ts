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

/** A watcher's record, kept by its own subscription handlers as the run goes. */
export class WatcherLog {
  readonly stretches: Stretch[] = [];

  constructor(
    readonly name: string,
    /** Which events it asked for: a prefix of the item, or every one (null). */
    readonly prefix: string | null,
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

/**
 * Checks every watcher's events against the feed's true history: `reference[p - 1]` is the event
 * at position p (the final state's, which keeps every event). For each stretch of each watcher:
 * every event it received is the one at its position (no event that did not happen), and it
 * received every event its filter matches between where it started and the position it reached
 * (no gap); order and duplicates were checked as they came (`WatcherLog.events`).
 */
export function checkWatchers(sim: Simulation, watchers: readonly WatcherLog[], reference: readonly Json[]): { readonly events: number; readonly stretches: number } {
  let events = 0;
  let stretches = 0;
  for (const w of watchers) {
    for (const s of w.stretches) {
      stretches++;
      if (s.through > Math.max(s.after, reference.length)) sim.fail(`feed: watcher ${w.name} reached position ${s.through}, past the feed's head ${reference.length}`);
      const got = new Map(s.events.map((e) => [e.position, e.event]));
      for (const e of s.events) {
        const truth = reference[e.position - 1];
        if (JSON.stringify(truth) !== JSON.stringify(e.event)) {
          sim.fail(`feed: watcher ${w.name} got ${JSON.stringify(e.event)} at position ${e.position}, where the feed has ${JSON.stringify(truth)}`);
        }
      }
      for (let p = s.after + 1; p <= Math.min(s.through, reference.length); p++) {
        const truth = reference[p - 1];
        const matches = w.prefix === null || (typeof truth === 'string' && truth.startsWith(w.prefix));
        if (matches && !got.has(p)) {
          sim.fail(`feed: watcher ${w.name} never got position ${p} (${JSON.stringify(truth)}), though it subscribed after ${s.after} and reached ${s.through} (a gap; stretch ended ${s.end ?? 'open'})`);
          break;
        }
      }
      events += s.events.length;
    }
  }
  return { events, stretches };
}
