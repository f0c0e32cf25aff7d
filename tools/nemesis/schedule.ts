import { Prng } from '../sim/prng.js';
import {
  type RangeMs, breakpointRestartDelayMs, clusterKillDownMs, faultGapMs, isolateMs, killDownMs, pauseMs, pausePrimaryChance, primaryCutMs,
  quickRestartChance, quickRestartMs, splitMs,
} from './timing.js';

/** The kinds of fault the nemesis injects. */
export const faultKinds = ['sigkill', 'sigstop', 'isolate', 'split', 'breakpoint', 'cluster-kill', 'isolate-primary-from-peers'] as const;
export type FaultKind = (typeof faultKinds)[number];

export type BreakpointNumber = 1 | 2 | 3 | 4;

/** One fault, fully drawn: what to do to which nodes (by label, n1 …), and for how long. */
export type FaultPlan =
  /** SIGKILL `node`, restart it after `downMs`. */
  | { readonly kind: 'sigkill'; readonly node: string; readonly downMs: number }
  /** SIGSTOP `node` (the primary when `primary`), SIGCONT after `pauseMs`. */
  | { readonly kind: 'sigstop'; readonly node: string; readonly primary: boolean; readonly pauseMs: number }
  /** Cut `node` off from every peer and client, heal after `ms`. */
  | { readonly kind: 'isolate'; readonly node: string; readonly ms: number }
  /** Cut `minority` off from `majority` (both ways; clients reach both sides), heal after `ms`. */
  | { readonly kind: 'split'; readonly minority: readonly string[]; readonly majority: readonly string[]; readonly ms: number }
  /**
   * Arm crash breakpoint `breakpoint` on `node` and give it an occasion to fire (see
   * `runFault`); once it killed the node, restart it after `restartDelayMs`.
   */
  | { readonly kind: 'breakpoint'; readonly node: string; readonly breakpoint: BreakpointNumber; readonly restartDelayMs: number }
  /** SIGKILL every node of `nodes` (the whole cluster) at once, a power cut; restart them all after `downMs`. */
  | { readonly kind: 'cluster-kill'; readonly nodes: readonly string[]; readonly downMs: number }
  /**
   * Cut the primary `node` off from its peers only (both ways; clients still reach it: issue 14's
   * fault), heal after `ms`. It must fall silent once its lease lapses, while the rest replace it.
   */
  | { readonly kind: 'isolate-primary-from-peers'; readonly node: string; readonly ms: number };

/** What the schedule must know of the cluster to choose a fault. */
export interface ClusterPicture {
  /** Every node, by label, in a fixed order (n1, n2, …). */
  readonly nodes: readonly string[];
  /** Nodes under a fault: from its start until the node is back. */
  readonly faulty: ReadonlySet<string>;
  /** Nodes that are up, members of the current view, normal replicas with a complete state (as last read). */
  readonly healthy: ReadonlySet<string>;
  /** The primary of the current view, if known. */
  readonly primary: string | null;
  /** A fault that wants the cluster to itself (`isExclusive`) is under way. */
  readonly exclusive: boolean;
}

/** How often each kind is drawn, relative to the others (among the kinds allowed at the time). */
const kindWeights: Readonly<Record<FaultKind, number>> = {
  sigkill: 3, sigstop: 3, isolate: 2, split: 2, breakpoint: 3, 'cluster-kill': 1, 'isolate-primary-from-peers': 2,
};

/**
 * Kinds that need a calm cluster (no fault under way) and then have it to themselves (`isExclusive`).
 * A cut of the primary from its peers cuts every other node too (from the primary), so its heal,
 * like a split's, heals every node.
 */
const calmOnly: ReadonlySet<FaultKind> = new Set(['split', 'cluster-kill', 'isolate-primary-from-peers']);

/**
 * A split needs a calm cluster (no fault under way), which a 5-node cluster, with up to two faults
 * at once, seldom is: when it is, a split is drawn this many times as often as `kindWeights` says.
 */
const calmSplitBoost = 3;

/**
 * Whether a fault wants the cluster to itself: no other fault starts while it is under way. A
 * split (its heal heals every node, and another partition's heal would end part of it early), and
 * breakpoints 3 and 4 (their trigger proposes the next view, which a concurrent view change would
 * race). Such a fault also starts only when no other is under way.
 */
export function isExclusive(plan: FaultPlan): boolean {
  return plan.kind === 'split' || plan.kind === 'cluster-kill' || plan.kind === 'isolate-primary-from-peers' || (plan.kind === 'breakpoint' && plan.breakpoint >= 3);
}

/** The nodes one plan faults. */
export function faultedNodes(plan: FaultPlan): readonly string[] {
  if (plan.kind === 'split') return plan.minority;
  if (plan.kind === 'cluster-kill') return plan.nodes;
  return [plan.node];
}

/** The largest minority of an `n`-node cluster: at most this many nodes are ever faulty at once. */
export function minority(n: number): number {
  return Math.floor((n - 1) / 2);
}

/**
 * The nemesis's seeded fault schedule: every random choice of a run's faults (which kind, which
 * nodes, how long, the pauses between faults) is drawn from one `Prng` in a fixed order, so a
 * seed replays the same decisions — given the same cluster states when they are made; real
 * processes do not replay their timing exactly, so runs of one seed are alike, not identical.
 *
 * The rule that keeps the run moving: at most a minority ⌊(n−1)/2⌋ of the nodes is faulty at any
 * time, where a node is faulty from the start of its fault until it is back (up, a member of the
 * current view, a normal replica holding a complete state), so that the majority keeps serving
 * through every fault but one kind. A fault starts only while every node not under a fault is
 * healthy (the cluster has settled from the last one), on healthy nodes, and only if the faulty
 * nodes stay a minority:
 * - 3 nodes: one fault at a time; 5 nodes: up to two at once (two single-node faults, or one split
 *   with a minority of two);
 * - a split, and breakpoints 3 and 4 (whose trigger proposes the next view), have the cluster to
 *   themselves: they start only when no other fault is under way, and none starts while they are
 *   (`isExclusive`);
 * - the exception, a whole-cluster kill (`cluster-kill`, issue 13): every node SIGKILLed at once
 *   and restarted, with the cluster to itself. The replicated state is durable, so the restarted
 *   nodes must serve again by themselves with every acknowledged request; the run checks that
 *   they do (`NemesisResult.clusterKillsServedAgain`).
 */
export class FaultSchedule {
  readonly maxFaulty: number;
  readonly #prng: Prng;

  /** The kinds this schedule draws from (`--faults`); default every kind. */
  readonly kinds: readonly FaultKind[];

  constructor(seed: number, readonly size: number, kinds: readonly FaultKind[] = faultKinds) {
    if (!Number.isInteger(size) || size < 3) throw new RangeError(`the nemesis needs at least 3 nodes, got ${size}`);
    if (kinds.length === 0) throw new RangeError('the nemesis needs at least one kind of fault');
    this.maxFaulty = minority(size);
    this.kinds = [...kinds];
    this.#prng = new Prng(seed);
  }

  /** How long to wait after a fault started before trying to start the next one. */
  nextGapMs(): number {
    return this.#draw(faultGapMs);
  }

  /**
   * The next fault to inject in `picture`'s cluster, or null when none may start now (draws
   * nothing then: the caller asks again later).
   */
  next(picture: ClusterPicture): FaultPlan | null {
    const room = this.maxFaulty - picture.faulty.size;
    if (room <= 0 || picture.exclusive) return null;
    if (picture.nodes.some((n) => !picture.faulty.has(n) && !picture.healthy.has(n))) return null; // not settled
    const candidates = picture.nodes.filter((n) => !picture.faulty.has(n));
    const calm = picture.faulty.size === 0;
    // The primary's cut needs a known primary that is not under a fault.
    const primaryFree = picture.primary !== null && candidates.includes(picture.primary);
    const kinds = this.kinds.filter((k) => (!calmOnly.has(k) || calm) && (k !== 'isolate-primary-from-peers' || primaryFree));
    if (kinds.length === 0) return null; // none of the chosen kinds fits now (draws nothing)
    const kind = this.#weighted(kinds, (k) => kindWeights[k] * (k === 'split' && calm && this.maxFaulty > 1 ? calmSplitBoost : 1));
    const p = this.#prng;
    switch (kind) {
      case 'sigkill': {
        const quick = p.chance(quickRestartChance);
        return { kind, node: p.pick(candidates), downMs: this.#draw(quick ? quickRestartMs : killDownMs) };
      }
      case 'sigstop': {
        const primary = p.chance(pausePrimaryChance) && picture.primary !== null && candidates.includes(picture.primary);
        return { kind, node: primary ? picture.primary! : p.pick(candidates), primary, pauseMs: this.#draw(pauseMs) };
      }
      case 'isolate':
        return { kind, node: p.pick(candidates), ms: this.#draw(isolateMs) };
      case 'split': {
        const size = p.between(1, room);
        const minoritySide = p.shuffle(candidates).slice(0, size).sort((a, b) => picture.nodes.indexOf(a) - picture.nodes.indexOf(b));
        return { kind, minority: minoritySide, majority: picture.nodes.filter((n) => !minoritySide.includes(n)), ms: this.#draw(splitMs) };
      }
      case 'breakpoint': {
        const breakpoint = p.pick<BreakpointNumber>(calm ? [1, 2, 3, 4] : [1, 2]);
        return { kind, node: p.pick(candidates), breakpoint, restartDelayMs: this.#draw(breakpointRestartDelayMs) };
      }
      case 'cluster-kill':
        return { kind, nodes: [...picture.nodes], downMs: this.#draw(clusterKillDownMs) };
      case 'isolate-primary-from-peers':
        return { kind, node: picture.primary!, ms: this.#draw(primaryCutMs) };
    }
  }

  #draw(range: RangeMs): number {
    return this.#prng.between(range.minMs, range.maxMs);
  }

  #weighted(kinds: readonly FaultKind[], weight: (k: FaultKind) => number): FaultKind {
    const total = kinds.reduce((sum, k) => sum + weight(k), 0);
    let x = this.#prng.next() * total;
    for (const k of kinds) {
      x -= weight(k);
      if (x < 0) return k;
    }
    return kinds[kinds.length - 1]!;
  }
}

/** A plan as a short phrase for progress lines: `sigkill n2 (down 850 ms)`. */
export function describePlan(plan: FaultPlan): string {
  switch (plan.kind) {
    case 'sigkill': return `SIGKILL ${plan.node}, restart after ${plan.downMs} ms`;
    case 'sigstop': return `SIGSTOP ${plan.node}${plan.primary ? ' (the primary)' : ''} for ${plan.pauseMs} ms`;
    case 'isolate': return `isolate ${plan.node} for ${plan.ms} ms`;
    case 'split': return `split [${plan.minority.join(',')}] | [${plan.majority.join(',')}] for ${plan.ms} ms`;
    case 'breakpoint': return `arm breakpoint ${plan.breakpoint} on ${plan.node}, restart ${plan.restartDelayMs} ms after it fired`;
    case 'cluster-kill': return `SIGKILL every node [${plan.nodes.join(',')}] at once, restart them all after ${plan.downMs} ms`;
    case 'isolate-primary-from-peers': return `cut the primary ${plan.node} off from its peers only (clients still reach it) for ${plan.ms} ms`;
  }
}
