/**
 * The application API: what a user of synod writes. An app is a set of named procedures, each a
 * pure, deterministic function of (state, args) that may change the state and returns a reply,
 * plus the functions that turn the state into bytes and back for state transfer.
 *
 * Rules (what makes replicas agree): no clocks, randomness, I/O or shared globals inside a
 * handler; the same state and args always give the same state change and reply. Args and
 * replies are JSON values. An app error (a refused operation) is thrown as `AppError` and
 * travels inside the reply; the request still counts as executed (it is in the client table).
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type Handler<S> = (state: S, args: Json) => Json;

/**
 * A message the primary pushes to one client outside any request (e.g. "give the lock back",
 * "try again"). Callbacks must be idempotent for the client: they may arrive twice, late, or
 * before the reply they relate to.
 */
export interface Callback {
  readonly clientId: string;
  readonly message: Json;
}

export interface App<S> {
  /** A fresh, empty state: what a new cluster starts from. */
  readonly initialState: () => S;
  readonly handlers: Readonly<Record<string, Handler<S>>>;
  readonly marshalState: (state: S) => Uint8Array;
  readonly unmarshalState: (data: Uint8Array) => S;
  /**
   * Optional: the callbacks the state calls for, as a pure function of the state. With a
   * request, those it may have caused (the primary sends them after executing it); without, every
   * outstanding one (a primary that starts serving re-sends them all, so none is lost in a
   * failover). Only the primary ever sends callbacks.
   */
  readonly callbacks?: (state: S, request?: { readonly proc: string; readonly args: Json }) => readonly Callback[];
}

/** A refused operation, returned to the client inside the reply. `code` is the app's own. */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Declares an app; checks that it has procedures and that their names are usable. */
export function defineApp<S>(app: App<S>): App<S> {
  const names = Object.keys(app.handlers);
  if (names.length === 0) throw new RangeError('an app needs at least one procedure');
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(name)) {
      throw new RangeError(`procedure name ${JSON.stringify(name)}: use letters, digits, _ . - (at most 64, not starting with a digit)`);
    }
  }
  return app;
}

/** Helpers for apps whose state is plain JSON. */
export const jsonState = {
  marshal: (state: Json): Uint8Array => new TextEncoder().encode(JSON.stringify(state)),
  unmarshal: (data: Uint8Array): Json => JSON.parse(new TextDecoder().decode(data)) as Json,
};
