import type { Logger } from '../env/logger.js';
import type { ServerStream, ServerStreamEnd, StreamEnd } from '../env/streams.js';
import type { CallbackStreamMessage } from '../rsm/callbacks-wire.js';
import { ownerTaken } from './callback-ends.js';

/** An accepted stream, and the client that opened it (its `CallbackSubscribe.clientId`). */
export interface OwnerStream {
  readonly stream: ServerStream<CallbackStreamMessage>;
  readonly clientId: string;
  /** When the hub accepted it (hub clock); keepalives carry the time since. Set at accept. */
  acceptedAt: number;
}

/**
 * The callback hub's table of accepted streams, one per owner (`CallbackHub`), and who may hold
 * each: a stream is rightful when its client is the one the owner is bound to in the replicated
 * state (`boundClient`), or the owner is bound to none. Every method runs in a task of the node's
 * executor, like the hub's.
 *
 * Invariant: an owner's entry is forgotten when its stream ends (`ended`), when the table ends it
 * (`endTaken`, `endAll`), or when a newer stream replaces it (`set`); so `size` counts owners whose
 * stream was open when last seen.
 */
export class OwnerStreams {
  readonly #streams = new Map<string, OwnerStream>();
  readonly #boundClient: ((owner: string) => string | null) | undefined;
  readonly #log: Logger;

  constructor(log: Logger, boundClient?: (owner: string) => string | null) {
    this.#log = log;
    this.#boundClient = boundClient;
  }

  get size(): number {
    return this.#streams.size;
  }

  get(owner: string): OwnerStream | undefined {
    return this.#streams.get(owner);
  }

  /** Makes `entry` the owner's stream (the caller ends the one it replaces). */
  set(owner: string, entry: OwnerStream): void {
    this.#streams.set(owner, entry);
  }

  /** A copy of every (owner, stream) pair, safe to end streams while walking it. */
  entries(): Array<[string, OwnerStream]> {
    return [...this.#streams];
  }

  /** The client `owner` is bound to in the replicated state now, or null: none. */
  boundClient(owner: string): string | null {
    return this.#boundClient?.(owner) ?? null;
  }

  /** Whether `owner` has an open stream, from the client it is bound to (if any). */
  has(owner: string): boolean {
    const entry = this.#streams.get(owner);
    return entry !== undefined && entry.stream.open && this.rightful(owner, entry);
  }

  /** Whether `entry` is from the client `owner` is bound to, or `owner` is bound to none. */
  rightful(owner: string, entry: OwnerStream): boolean {
    const bound = this.boundClient(owner);
    return bound === null || bound === entry.clientId;
  }

  /** Ends (and forgets) a stream of `owner` that is not its bound client's. */
  endTaken(owner: string, entry: OwnerStream): void {
    this.#streams.delete(owner);
    this.#log.info({ owner, client: entry.stream.peer }, 'callbacks: stream ended: the owner is bound to another client');
    entry.stream.end(ownerTaken(owner, 'it is bound to another client (the one that first used it)'));
  }

  /** Ends every stream of an owner bound to another client than the stream's. */
  endStrangers(): void {
    for (const [owner, entry] of this.entries()) if (!this.rightful(owner, entry)) this.endTaken(owner, entry);
  }

  /** Ends (and forgets) every stream with `end`, logging `why` once. */
  endAll(end: ServerStreamEnd, why: string): void {
    if (this.#streams.size === 0) return;
    this.#log.info({ streams: this.#streams.size, end: end.kind, detail: end.detail }, `callbacks: ending every stream: ${why}`);
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s.stream.end(end);
  }

  /** `stream` of `owner` ended: forgotten, unless a newer stream has replaced it already. */
  ended(owner: string, stream: ServerStream<CallbackStreamMessage>, end: StreamEnd): void {
    if (this.#streams.get(owner)?.stream !== stream) return;
    this.#streams.delete(owner);
    this.#log.debug({ owner, end: end.kind, detail: end.detail }, 'callbacks: stream ended');
  }
}
