import { AppRejectedError, ClientClosedError, InvalidArgumentError } from '../../client/errors.js';
import type { Json } from '../../rsm/app.js';
import { LockClientClosedError, LockProtocolError } from './lock-errors.js';

/**
 * What goes into and comes out of the lock client's core (`LockClientCore`): the server calls
 * it asks for, what they ended with, what local users are told, and the outbox its handlers
 * record their effects in; and how a server's reply or error is read.
 */

export type LockStatus = 'none' | 'free' | 'locked' | 'acquiring' | 'releasing';

/** A call of the lock server's procedures (`lock-app.ts`) for the shell to make. */
export interface LockServerCall {
  readonly proc: 'acquire' | 'release';
  readonly lock: string;
  readonly args: { readonly lock: string; readonly owner: string; readonly token?: number };
}

/** What a server call ended with: the reply, or the error (`RsmClientError`s, as `RsmClient` gives them). */
export type ServerResult = { readonly ok: true; readonly value: Json } | { readonly ok: false; readonly error: Error };

export type AcquireResult = { readonly ok: true; readonly token: number } | { readonly ok: false; readonly error: Error };
export type ReleaseResult = { readonly ok: true } | { readonly ok: false; readonly error: Error };

/**
 * The effects of one handler, carried out by the shell in this order: timers, server calls,
 * upcalls; then each due release as a task of its own (never inside the handler that made it due).
 */
export class LockClientOutbox {
  /** Server calls to make, in order. */
  readonly calls: LockServerCall[] = [];
  /** Per-lock retry timers to (re)arm, or cancel (`delayMs` null); on firing, the shell calls `onTimer(lock)`. */
  readonly timers: Array<{ readonly lock: string; readonly delayMs: number | null }> = [];
  /** Locks whose release is due: the shell calls `onReleaseDue(lock)` in a later task of its own. */
  readonly releasesDue: string[] = [];
  /** Calls into local users (grants, failures), after the handler returned. */
  readonly upcalls: Array<() => void> = [];
  /** The session timer to (re)arm after this many ms (on firing, the shell calls `onSessionTimer`); null: leave it. */
  sessionTimerMs: number | null = null;

  call(call: LockServerCall): void {
    this.calls.push(call);
  }

  setTimer(lock: string, delayMs: number): void {
    this.timers.push({ lock, delayMs });
  }

  cancelTimer(lock: string): void {
    this.timers.push({ lock, delayMs: null });
  }

  /** Re-arms the session timer (one; the latest wins). */
  sessionTimer(delayMs: number): void {
    this.sessionTimerMs = delayMs;
  }

  releaseDue(lock: string): void {
    this.releasesDue.push(lock);
  }

  upcall(call: () => void): void {
    this.upcalls.push(call);
  }
}

/** `{ granted: true, token }` or `{ granted: false }`, as `lockApp.handlers.acquire` answers; null if neither. */
export function parseAcquireReply(value: Json): { granted: true; token: number } | { granted: false } | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  if (value['granted'] === false) return { granted: false };
  const token = value['token'];
  if (value['granted'] === true && typeof token === 'number' && Number.isSafeInteger(token) && token > 0) return { granted: true, token };
  return null;
}

/**
 * Errors after which the call's outcome is known and repeating it cannot help: the app refused it
 * (executed, with an error), the request was refused as bad input (not executed), the RSM client
 * is closed, or the reply broke the protocol. Anything else (deadline, unavailable, busy, ...)
 * leaves the outcome unknown.
 */
export function isDefinite(error: Error): boolean {
  return error instanceof AppRejectedError || error instanceof InvalidArgumentError || error instanceof ClientClosedError ||
    error instanceof LockClientClosedError || error instanceof LockProtocolError;
}
