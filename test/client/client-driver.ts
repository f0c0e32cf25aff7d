// The scripted driver of ClientCore (design §5) the client-core tests share: the test plays the
// servers. It drives the core directly through an Outbox, collects what it sends (invokes, and
// the members it asks for apart), fires its timers by hand and feeds answers.
import assert from 'node:assert/strict';
import { Outbox } from '../../src/env/outbox.js';
import { silentLogger } from '../../src/env/logger.js';
import type { Random } from '../../src/env/random.js';
import type { CallFailure } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import { type CallResult, ClientCore } from '../../src/client/client-core.js';
import { parseTimerKey } from '../../src/client/client-calls.js';
import { type ClientOptions, defaultClientOptions, withDefaults } from '../../src/options.js';
import type { Json } from '../../src/rsm/app.js';
import type { ClientAnswer, ClientCall, Request } from '../../src/rsm/messages.js';

export const a = 'a:1';
export const b = 'b:1';
export const c = 'c:1';
export const clientId = 'client-1';

/** A random source that always returns `value` (0 picks the first member; jitter at its bottom). */
export const constant = (value: number): Random => ({ next: () => value });

/** The core and everything it did, effects carried out at once as the shell does. */
export class Driver {
  readonly core: ClientCore;
  /** Invokes sent, oldest first; tests take them with `take()`. */
  readonly sent: Array<{ to: NodeId; request: Request }> = [];
  /** Replicas asked for the members of their view, oldest first (`takeAsked()`). */
  readonly asked: NodeId[] = [];
  /** Armed timers, by their full keys (`<timer>#<call id>`) → the delay each was (last) armed with. */
  readonly rawTimers = new Map<string, number>();
  /** Every timer arming, in order (key and delay). */
  readonly armed: Array<{ key: string; delayMs: number }> = [];
  readonly results: CallResult[] = [];

  constructor(opts: { members?: NodeId[]; random?: Random; options?: Partial<ClientOptions>; maxRequestBytes?: number; clusterConfirmed?: boolean } = {}) {
    this.core = new ClientCore({
      clientId,
      members: opts.members ?? [a, b, c],
      random: opts.random ?? constant(0),
      logger: silentLogger,
      maxRequestBytes: opts.maxRequestBytes,
      clusterConfirmed: opts.clusterConfirmed,
      // One call at a time unless a test says otherwise: most tests here follow one call's attempts.
      options: withDefaults(defaultClientOptions, { maxCallsInFlight: 1, ...opts.options }, 'client'),
    });
  }

  /**
   * The armed timers of the oldest call that has any, by timer name (`clientTimers`) → delay:
   * with one call at a time, the current call's timers.
   */
  get timers(): Map<string, number> {
    const ids = [...this.rawTimers.keys()].map((k) => parseTimerKey(k)!.id);
    const oldest = Math.min(...ids);
    const view = new Map<string, number>();
    for (const [k, delay] of this.rawTimers) {
      const named = parseTimerKey(k)!;
      if (named.id === oldest) view.set(named.timer, delay);
    }
    return view;
  }

  submit(proc = 'p', args: Json = null, deadlineMs?: number, done?: (r: CallResult) => void): void {
    this.#run((out) => this.core.submit(proc, args, deadlineMs, done ?? ((r) => this.results.push(r)), out));
  }

  answer(server: NodeId, a: ClientAnswer): void {
    this.#run((out) => this.core.onAnswer(server, a, out));
  }

  /**
   * The transport reports that request `seq` to `server` failed (default: nothing listens there;
   * default `seq`: the last invoke sent, taken or not).
   */
  failed(server: NodeId, failure: CallFailure = { kind: 'unreachable', detail: 'UNAVAILABLE: connection refused' }, seq = this.#lastSeq): void {
    this.#run((out) => this.core.onFailed(server, failure, seq, out));
  }

  #lastSeq = 0;

  /**
   * Fires timer `key`; it must be armed (a core only ever sees timers it armed). A bare timer name
   * (`clientTimers.retry`) fires that timer of the oldest call that has it armed.
   */
  fire(key: string): void {
    const full = key.includes('#') ? key : [...this.rawTimers.keys()].filter((k) => parseTimerKey(k)!.timer === key).sort((x, y) => parseTimerKey(x)!.id - parseTimerKey(y)!.id)[0];
    assert.ok(full !== undefined && this.rawTimers.has(full), `timer ${key} is armed (armed: ${[...this.rawTimers.keys()].join(', ') || 'none'})`);
    this.rawTimers.delete(full);
    this.#run((out) => this.core.onTimer(full, out));
  }

  /** Takes every invoke sent since the last take. */
  take(): Array<{ to: NodeId; request: Request }> {
    return this.sent.splice(0);
  }

  /** Takes the replicas asked for members since the last such take. */
  takeAsked(): NodeId[] {
    return this.asked.splice(0);
  }

  /** Takes the one invoke sent since the last take (fails if there is not exactly one). */
  takeOne(): { to: NodeId; request: Request } {
    const s = this.take();
    assert.equal(s.length, 1, `exactly one send expected, got ${JSON.stringify(s)}`);
    return s[0]!;
  }

  #run(handler: (out: Outbox<ClientCall, never>) => void): void {
    const out = new Outbox<ClientCall, never>();
    handler(out);
    assert.equal(out.records.length, 0, 'a client persists nothing');
    for (const { key, delayMs } of out.timers) {
      if (delayMs === null) this.rawTimers.delete(key);
      else {
        this.rawTimers.set(key, delayMs);
        this.armed.push({ key, delayMs });
      }
    }
    for (const { to, msg } of [...out.volatileSends, ...out.sends]) {
      if (msg.kind === 'invoke') {
        this.sent.push({ to, request: msg.request });
        this.#lastSeq = msg.request.seq;
      }
      else this.asked.push(to);
    }
    for (const call of out.upcalls) call();
  }
}

export const executed = (seq: number, value: Json = 'done', id = clientId): ClientAnswer => ({ kind: 'executed', clientId: id, seq, outcome: { ok: true, value } });
export const busy = (seq: number, retryAfterMs = 50): ClientAnswer => ({ kind: 'busy', clientId, seq, retryAfterMs, reason: 'view change in progress' });
export const notPrimary = (seq: number, primary: NodeId | null, vid = 3): ClientAnswer => ({ kind: 'not-primary', clientId, seq, primary, vid });

/** The ceiling of the n-th consecutive backoff, as ClientOptions documents it. */
export function ceiling(n: number, o: ClientOptions = defaultClientOptions): number {
  return Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** (n - 1));
}

export function failed(r: CallResult | undefined): Error {
  assert.ok(r !== undefined && !r.ok, `a failed result expected, got ${JSON.stringify(r)}`);
  return r.error;
}
