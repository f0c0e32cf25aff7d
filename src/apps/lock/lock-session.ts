/**
 * The lock client's view of its session with the serving primary (Chubby's, design §6): until
 * when, on the client's clock, the server surely has not expired the owner (`validUntilMs`, raised
 * by each confirmation, see `confirmedUntil`), and an epoch that changes every time validity
 * starts or ends.
 *
 * Why the epoch: a confirmation proves that the server did not expire the owner from (about) its
 * arrival until `validUntilMs`; a run of confirmations each arriving before the previous bound
 * proves it for the whole run. A gap breaks that proof: the server may have expired the owner in
 * it, releasing its grants, and a later confirmation is about a fresh session. So a grant is
 * trusted only if the acquire that got it was sent inside the current run of validity (same
 * epoch, valid then and now): it executed after the send, and the session has held since.
 */
export class SessionValidity {
  #validUntilMs = -Infinity;
  #valid = false;
  #epoch = 0;
  /** The mutation `cachePastSession`: always valid, never lapses. */
  readonly #ignored: boolean;

  constructor(ignored: boolean) {
    this.#ignored = ignored;
  }

  get validUntilMs(): number {
    return this.#validUntilMs;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** Valid as of the last `lapsesAt` / `confirm` (callers check `lapsesAt(now)` first). */
  get valid(): boolean {
    return this.#ignored || this.#valid;
  }

  /** True if the session was valid and `nowMs` is past its bound: it lapses now (the epoch moves on). */
  lapsesAt(nowMs: number): boolean {
    if (this.#ignored || !this.#valid || nowMs < this.#validUntilMs) return false;
    this.#valid = false;
    this.#epoch++;
    return true;
  }

  /**
   * A confirmation until `untilMs`: raises the bound (never lowers it). Returns true if it made
   * an invalid session valid (a new epoch). Call `lapsesAt(nowMs)` first: a confirmation that
   * arrives after the bound passed starts a new run, it does not extend the old one.
   */
  confirm(untilMs: number, nowMs: number): boolean {
    if (untilMs <= this.#validUntilMs || untilMs <= nowMs) return false;
    this.#validUntilMs = untilMs;
    if (this.#valid) return false;
    this.#valid = true;
    this.#epoch++;
    return true;
  }
}
