/**
 * Errors shared by every layer. Operating conditions are typed errors carrying what the caller
 * needs to act; a broken invariant is an `InvariantViolation` that stops the node.
 */

/** An incoming message (from the network, or a client) failed validation. Nothing was done. */
export class InvalidMessageError extends Error {
  override readonly name = 'InvalidMessageError';
  /** @param field dotted path of the offending field, e.g. `prepare.n.round` */
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`invalid message: ${field}: ${reason}`);
  }
}

/** A programmer error: the code reached a state its invariants exclude. The node must stop. */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
}

/** Checks an invariant; on in production as well as in tests. */
export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new InvariantViolation(typeof message === 'string' ? message : message());
  }
}
