import type { NodeId } from '../../../src/env/types.js';
import type { Request } from '../../../src/rsm/messages.js';
import type { ReplicaObserver } from '../../../src/rsm/replica-deps.js';

/**
 * What the lease checker reads of a machine: its live process's incarnation and that process's
 * clock now, or null while it is down. Each reading is on the machine's own clock, compared only
 * with beliefs that machine's same incarnation stated on it.
 */
export interface LeaseClocks {
  reading(node: NodeId): { readonly incarnation: number; readonly nowMs: number } | null;
}

/** Where the checker reports (the simulation: virtual time and its failure list). */
export interface LeaseCheckerHost {
  readonly now: number;
  fail(message: string): void;
}

/** One primary incarnation's belief about its lease in one view. */
interface Belief {
  readonly incarnation: number;
  /** On that incarnation's clock; -Infinity: it holds none. */
  readonly untilMs: number;
}

/** The first time a view served, and who its primary was. */
interface Served {
  readonly primary: NodeId;
  readonly atMs: number;
}

/**
 * "Never two actives" (leases-design §4.2, checks 1–2): fed by every replica's `serving`,
 * `leaseChanged` and `queryAnswered`, it records each primary's latest belief of how long its
 * lease runs, per view, on the primary's own clock, and checks online:
 * - (A) a query answered on its own by the primary of view v at a moment its clock reads at or
 *   past its belief for v (or with no belief at all) acted without its lease;
 * - (B) when view v′ starts serving, no earlier view v whose primary is another node P may still
 *   be believed held by P's live incarnation: P's clock at that moment must read at or past its
 *   belief for v; and no belief for v may be extended past P's clock once such a v′ served.
 *
 * Exact without mapping clocks onto each other: each belief is compared only with a reading of
 * the clock it was stated on, at the real moment that matters. A process that crashed took its
 * beliefs with it (a restarted incarnation starts with none). A same-primary view change is no
 * handover: the primary of v and v′ is one node, which does not act twice.
 */
export class LeaseChecker {
  readonly #host: LeaseCheckerHost;
  readonly #clocks: LeaseClocks;
  /** Latest belief per primary and view; beliefs of an earlier incarnation are dropped on sight. */
  readonly #beliefs = new Map<NodeId, Map<number, Belief>>();
  /** Views that served, by vid (the first `serving` of each). */
  readonly #served = new Map<number, Served>();
  violations = 0;
  /** Beliefs recorded (`leaseChanged` calls): 0 until the core reports its lease. */
  beliefsRecorded = 0;
  queriesChecked = 0;

  constructor(host: LeaseCheckerHost, clocks: LeaseClocks) {
    this.#host = host;
    this.#clocks = clocks;
  }

  /** The observer hooks to compose into node `node`'s `ReplicaObserver`. */
  observerFor(node: NodeId): Pick<ReplicaObserver, 'serving' | 'leaseChanged' | 'queryAnswered'> {
    return {
      serving: (vid) => this.serving(node, vid),
      leaseChanged: (vid, untilMs) => this.leaseChanged(node, vid, untilMs),
      queryAnswered: (vid, request) => this.queryAnswered(node, vid, request),
    };
  }

  /** `node` became the serving primary of `vid`: check (B) against every earlier view's primary. */
  serving(node: NodeId, vid: number): void {
    if (!this.#served.has(vid)) this.#served.set(vid, { primary: node, atMs: this.#host.now });
    const mine = this.#clocks.reading(node);
    for (const [other, views] of this.#beliefs) {
      if (other === node) continue;
      const reading = this.#clocks.reading(other);
      for (const [v, belief] of views) {
        if (v >= vid) continue;
        if (reading === null || reading.incarnation !== belief.incarnation || reading.nowMs >= belief.untilMs) {
          views.delete(v); // ran out, or died with its process: it can never trip again
          continue;
        }
        this.#violation(`${node} started serving view ${vid} (its clock ${fmt(mine?.nowMs)}) while ${other} (#${belief.incarnation}) ` +
          `still believed it held its lease for view ${v} until ${fmt(belief.untilMs)} on its clock, which read ${fmt(reading.nowMs)} ` +
          `(${fmt(belief.untilMs - reading.nowMs)} ms to go on its clock): two primaries may act at once`);
        views.delete(v); // reported once
      }
    }
  }

  /** The primary `node` of `vid` believes its lease runs until `untilMs` on its clock. */
  leaseChanged(node: NodeId, vid: number, untilMs: number): void {
    const reading = this.#clocks.reading(node);
    if (reading === null) return; // only a live process reports
    this.beliefsRecorded++;
    const views = this.#viewsOf(node, reading.incarnation);
    views.set(vid, { incarnation: reading.incarnation, untilMs });
    if (untilMs <= reading.nowMs) return;
    for (const [later, served] of this.#served) {
      if (later <= vid || served.primary === node) continue;
      this.#violation(`${node} (#${reading.incarnation}) extended its lease for view ${vid} until ${fmt(untilMs)} on its clock ` +
        `(reading ${fmt(reading.nowMs)}) after ${served.primary} started serving view ${later} at t=${fmt(served.atMs)}: two primaries may act at once`);
      return;
    }
  }

  /** The primary `node` of `vid` answered `request` on its own: check (A). */
  queryAnswered(node: NodeId, vid: number, request: Request): void {
    const reading = this.#clocks.reading(node);
    if (reading === null) return;
    this.queriesChecked++;
    const belief = this.#viewsOf(node, reading.incarnation).get(vid);
    const untilMs = belief?.untilMs ?? Number.NEGATIVE_INFINITY;
    if (reading.nowMs < untilMs) return;
    this.#violation(`${node} (#${reading.incarnation}) answered the query ${request.proc} of ${request.clientId} on its own as primary of view ${vid} ` +
      `at ${fmt(reading.nowMs)} on its clock, ${belief === undefined ? 'never having held a lease in that view' : `its lease having run out at ${fmt(untilMs)}`}`);
  }

  /** The beliefs of `node`'s incarnation `incarnation`, dropping an earlier incarnation's. */
  #viewsOf(node: NodeId, incarnation: number): Map<number, Belief> {
    let views = this.#beliefs.get(node);
    const first = views?.values().next();
    if (views === undefined || (first !== undefined && first.done !== true && first.value.incarnation !== incarnation)) {
      views = new Map();
      this.#beliefs.set(node, views);
    }
    return views;
  }

  #violation(what: string): void {
    this.violations++;
    this.#host.fail(`lease: ${what} (t=${fmt(this.#host.now)} real)`);
  }
}

function fmt(ms: number | undefined): string {
  return ms === undefined ? '?' : Number.isFinite(ms) ? ms.toFixed(3) : String(ms);
}
