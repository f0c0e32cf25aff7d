import type { NodeId } from './types.js';

/**
 * The effects one handler invocation asks for, in the order they must take place.
 *
 * A core's handler is synchronous: it updates the core's own state and records here what the
 * world must do. The shell (`shell.ts`) then carries the effects out in this order:
 *   1. `halt`: a crash breakpoint fired; nothing else of this batch happens;
 *   2. timers and volatile sends, at once (they promise nothing durable);
 *   3. `persist`: records appended, and waited on until durable;
 *   4. `send`: messages that may depend on those records (and on all earlier ones);
 *   5. `upcall`: calls into the layer above, after this layer's handler has returned, so that
 *      no layer is ever re-entered while it is in the middle of a handler (the lock rule).
 */
export class Outbox<M, R = never> {
  readonly records: R[] = [];
  readonly sends: Array<{ to: NodeId; msg: M }> = [];
  readonly volatileSends: Array<{ to: NodeId; msg: M }> = [];
  readonly upcalls: Array<() => void> = [];
  readonly timers: Array<{ key: string; delayMs: number | null }> = [];
  haltReason: string | undefined;

  /** Make `record` durable before any later `send` or `upcall` of this batch leaves. */
  persist(record: R): void {
    this.records.push(record);
  }

  /** Send after every record persisted so far (by this batch or an earlier one) is durable. */
  send(to: NodeId, msg: M): void {
    this.sends.push({ to, msg });
  }

  /**
   * Send at once, without waiting for the disk. Only for messages whose content rests on no
   * state at all that the disk must back (heartbeats). A core cannot tell what is durable yet,
   * since its memory runs ahead of its disk: anything derived from state goes through `send`.
   */
  sendVolatile(to: NodeId, msg: M): void {
    this.volatileSends.push({ to, msg });
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
}
