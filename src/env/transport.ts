import type { NodeId } from './types.js';

/**
 * How a layer's messages travel between nodes.
 *
 * Failure semantics (every implementation, and every core relies on exactly these):
 * - A message may be lost, delayed, duplicated or reordered. There is no delivery report: a
 *   protocol that needs an answer waits for a reply message and retransmits on its own timer.
 * - A delivered message arrives whole and as sent (the transport validates it through the
 *   layer's codec; a message that fails validation is refused with a typed error and logged,
 *   never handed to the core).
 * - `send` never throws for an unreachable or unknown peer, and never calls the receiver
 *   synchronously, not even for a message to oneself.
 *
 * A transport is divided into channels, one per layer (Paxos, config, RSM …); each channel has
 * its own wire format (a gRPC service in production) and its own receiver.
 */
export interface Transport {
  /** This node's address. */
  readonly self: NodeId;
  /**
   * Opens the channel described by `codec` and routes its incoming messages to `receive`.
   * Each channel name may be opened once per transport.
   */
  open<M>(codec: WireCodec<M>, receive: (from: NodeId, msg: M) => void): Channel<M>;
  /** Stops sending and receiving; releases sockets. */
  close(): Promise<void>;
}

export interface Channel<M> {
  /** Best effort; see the failure semantics on `Transport`. */
  send(to: NodeId, msg: M): void;
}

/**
 * A layer's wire format: how its messages map to the plain objects of its gRPC service's
 * envelope, and how an incoming object is checked before the core sees it. Codecs are pure.
 */
export interface WireCodec<M> {
  /** Channel name, and the fully qualified gRPC service that carries it (e.g. `synod.paxos.Paxos`). */
  readonly service: string;
  /** The message's body as the fields of the service's envelope (its `oneof body`). */
  encode(msg: M): Record<string, unknown>;
  /** Checks and converts an envelope's body; throws `InvalidMessageError` for bad input. */
  decode(wire: Record<string, unknown>): M;
}
