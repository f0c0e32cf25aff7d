import type { Random } from '../env/random.js';
import type { NodeId } from '../env/types.js';
import { limits } from '../options.js';

/**
 * Most addresses a client keeps that it heard only as NOT_PRIMARY hints (not in the view it
 * learned): as many as a view may have members, so that hints of a view the client has not
 * learned yet all fit, while a server answering ever new names cannot make it grow without bound.
 */
export const maxHintedReplicas = limits.maxMembers;

/**
 * The replicas a client knows, in the order it tries them (design §5): the members of the
 * newest view it learned (a `members` answer), then addresses it heard as NOT_PRIMARY hints and
 * has not seen in a view, then the addresses it was given, as the fallback once every learned
 * one failed. So a client given only one address (the primary's) finds the others, and survives
 * that address's death. Bounded: a view has at most `limits.maxMembers` members (the codec
 * checks), hints at most `maxHintedReplicas`, and the given list is the caller's.
 */
export class KnownReplicas {
  readonly #given: readonly NodeId[];
  #view: { readonly vid: number; readonly members: readonly NodeId[] } | null = null;
  /** Hinted addresses not in the view, oldest first. */
  #hinted: NodeId[] = [];
  /** Where the rotation over the replicas stands. */
  #next = 0;

  constructor(given: readonly NodeId[]) {
    if (given.length === 0) throw new RangeError('a client needs at least one replica address');
    this.#given = [...new Set(given)];
  }

  /** The vid of the newest view learned (0: none). */
  get vid(): number {
    return this.#view?.vid ?? 0;
  }

  /** Every replica known, learned ones first: the members of the view, hints, then the given ones. */
  get all(): NodeId[] {
    return [...new Set([...this.#learned(), ...this.#given])];
  }

  /**
   * A view's member list, from a `members` answer: kept if it is at least as new as the one known
   * (an older view, from a replica that is behind, is ignored). Returns whether it was kept.
   */
  learnView(vid: number, members: readonly NodeId[]): boolean {
    if (members.length === 0 || vid < this.vid) return false;
    this.#view = { vid, members: members.slice(0, limits.maxMembers) };
    this.#hinted = this.#hinted.filter((n) => !members.includes(n));
    return true;
  }

  /** An address named by a NOT_PRIMARY hint; the oldest hint is dropped beyond `maxHintedReplicas`. */
  hint(node: NodeId): void {
    if (this.#view?.members.includes(node) === true || this.#hinted.includes(node)) return;
    this.#hinted.push(node);
    if (this.#hinted.length > maxHintedReplicas) this.#hinted.shift();
  }

  /** A replica to start a call at when no primary is known: a random learned one, else a random given one. */
  pick(random: Random): NodeId {
    const learned = this.#learned();
    const from = learned.length > 0 ? learned : this.#given;
    return from[Math.floor(random.next() * from.length)]!;
  }

  /**
   * The replica to try after `after` failed: the next learned one, in rotation, that is not
   * `after` and not in `failed`; once every learned one failed, the next given one; when every
   * replica failed, the next in rotation anyway (the caller backs off first).
   */
  next(after: NodeId, failed: ReadonlySet<NodeId>): NodeId {
    const all = this.all;
    return this.#rotate(this.#learned(), after, failed) ?? this.#rotate(this.#given, after, failed) ?? all[this.#next++ % all.length]!;
  }

  #rotate(list: readonly NodeId[], after: NodeId, failed: ReadonlySet<NodeId>): NodeId | undefined {
    for (let k = 0; k < list.length; k++) {
      const m = list[this.#next++ % list.length]!;
      if (m !== after && !failed.has(m)) return m;
    }
    return undefined;
  }

  #learned(): NodeId[] {
    return [...(this.#view?.members ?? []), ...this.#hinted];
  }
}
