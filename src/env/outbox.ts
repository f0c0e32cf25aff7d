import type { ReturnAddress } from './transport.js';
import type { NodeId } from './types.js';

/** A message to a peer node. */
export interface PeerSend<M> {
  readonly kind: 'send';
  readonly to: NodeId;
  readonly msg: M;
}

/** An answer to a request, going back to the return address the request came with. */
export interface Answer<A> {
  readonly kind: 'answer';
  readonly to: ReturnAddress;
  readonly answer: A;
}

/** What leaves a batch, in the order the handler recorded it. */
export type Outgoing<M, A> = PeerSend<M> | Answer<A>;

/**
 * The effects one handler invocation asks for, in the order they must take place.
 *
 * A core's handler is synchronous: it updates the core's own state and records here what the
 * world must do. The shell (`shell.ts`) then carries the effects out in this order:
 *   1. `halt`: a crash breakpoint fired; nothing else of this batch happens;
 *   2. timers and volatile sends, at once (they promise nothing durable);
 *   2b. `sendAhead`: messages to peers, once the records of earlier batches are durable, without
 *      waiting for this batch's own records;
 *   3. `persist`: records appended, and waited on until durable;
 *   4. `send` and `answer`: messages to peers and answers to clients, in the order recorded,
 *      which may depend on those records (and on all earlier ones);
 *   5. `upcall`: calls into the layer above, after this layer's handler has returned, so that
 *      no layer is ever re-entered while it is in the middle of a handler (the lock rule).
 *
 * `M` is what the layer sends its peers, `R` what it persists, `A` what it answers clients with.
 * A peer is named by its `NodeId`, a client's request by its `ReturnAddress`: the two are
 * different types, so a core cannot send an answer to a node or a peer message to a client.
 */
export class Outbox<M, R = never, A = never> {
  readonly records: R[] = [];
  /** Messages to peers and answers to clients, in the order recorded (the shell keeps that order). */
  readonly outgoing: Array<Outgoing<M, A>> = [];
  readonly volatileSends: Array<PeerSend<M>> = [];
  /** Messages to peers that wait for earlier batches' records only (see `sendAhead`). */
  readonly aheadSends: Array<PeerSend<M>> = [];
  readonly upcalls: Array<() => void> = [];
  readonly timers: Array<{ key: string; delayMs: number | null }> = [];
  haltReason: string | undefined;

  /** Make `record` durable before any later `send`, `answer` or `upcall` of this batch leaves. */
  persist(record: R): void {
    this.records.push(record);
  }

  /** Send to peer `to` after every record persisted so far (by this batch or an earlier one) is durable. */
  send(to: NodeId, msg: M): void {
    this.outgoing.push({ kind: 'send', to, msg });
  }

  /** Answer the request that came with return address `to`, under the same rule as `send`. */
  answer(to: ReturnAddress, answer: A): void {
    this.outgoing.push({ kind: 'answer', to, answer });
  }

  /**
   * Send at once, without waiting for the disk. Only for messages whose content rests on no
   * state at all that the disk must back (heartbeats). A core cannot tell what is durable yet,
   * since its memory runs ahead of its disk: anything derived from state goes through `send`.
   */
  sendVolatile(to: NodeId, msg: M): void {
    this.volatileSends.push({ kind: 'send', to, msg });
  }

  /**
   * Send to peer `to` once every record persisted by an *earlier* batch is durable, without
   * waiting for the records of this batch: the write of this batch's records then overlaps the
   * message's trip. Only for a message whose content does not rest on this batch's records (the
   * RSM primary's invoke: a backup may hold a request the primary's disk forgot, see
   * `RsmRecord`'s `stamped`). It may overtake this batch's other sends and answers.
   */
  sendAhead(to: NodeId, msg: M): void {
    this.aheadSends.push({ kind: 'send', to, msg });
  }

  /** Call into the layer above once this batch's records are durable and its sends are out. */
  upcall(call: () => void): void {
    this.upcalls.push(call);
  }

  /** (Re)arm the timer named `key`; a timer of the same name that was pending is replaced. */
  setTimer(key: string, delayMs: number): void {
    this.timers.push({ key, delayMs });
  }

  cancelTimer(key: string): void {
    this.timers.push({ key, delayMs: null });
  }

  /** A crash breakpoint: the node stops now, as if killed, before any other effect of this batch. */
  halt(reason: string): void {
    this.haltReason ??= reason;
  }

  /** The messages to peers: those sent ahead, then those among `outgoing`, in order (for tests and tools that look at one kind). */
  get sends(): Array<PeerSend<M>> {
    return [...this.aheadSends, ...this.outgoing.filter((o): o is PeerSend<M> => o.kind === 'send')];
  }

  /** The answers among `outgoing`, in order. */
  get answers(): Array<Answer<A>> {
    return this.outgoing.filter((o): o is Answer<A> => o.kind === 'answer');
  }
}
