/**
 * The oracle: what became of each case, and what must hold of it. Per case, every refusal is
 * typed (a status that says what went wrong, with a message: never UNKNOWN or INTERNAL; an
 * `InvalidMessageError` in the simulator), input the documented limits exclude is refused (and
 * the refusal names the limit), and an app fails no request by throwing (`handler-error`). Per
 * batch (in the targets): every node up, the replicas of the quiet view equal, the well-behaved
 * clients served with a linearizable history.
 */
import type { ClientAnswer } from '../../src/rsm/messages.js';
import type { Expectation, FuzzCase } from './case-model.js';

/** What one case came to, as the fuzzer heard it. */
export type CaseOutcome =
  /** Refused before anything acted on it. `typed`: the refusal says what was wrong (see the file comment). */
  | { readonly kind: 'refused'; readonly typed: boolean; readonly detail: string }
  /** A one-way message taken in by the node (its codec accepted it). */
  | { readonly kind: 'accepted' }
  /** A call's answer: `summary` for reports; `appCode` when it was executed and failed with an app error. */
  | { readonly kind: 'answered'; readonly summary: string; readonly executed: boolean; readonly appCode?: string }
  /** A stream: accepted (and ended by the fuzzer), or ended by the node with `end` (a `StreamEnd` kind). */
  | { readonly kind: 'stream'; readonly end: string; readonly detail: string }
  /** Nothing heard within the case's time (a call past its deadline: not a refusal). */
  | { readonly kind: 'silent'; readonly detail: string };

/** Stream ends that are not refusals of the request (the stream was taken, or the node sent the client on). */
const streamEndsNotRefusals = new Set(['accepted', 'not-primary', 'not-serving-yet', 'unavailable', 'replaced', 'overloaded', 'unreachable', 'cancelled']);

/** Why `outcome` breaks the rules for `c`, or null. */
export function judge(c: FuzzCase, outcome: CaseOutcome): string | null {
  if (outcome.kind === 'refused' && !outcome.typed) return `untyped refusal: ${outcome.detail}`;
  if (outcome.kind === 'stream' && outcome.end === 'internal') return `stream ended internal: ${outcome.detail}`;
  if (outcome.kind === 'answered' && outcome.appCode === 'handler-error') return `the app threw (handler-error): ${outcome.summary}`;
  return expectationBroken(c.expect, outcome);
}

function expectationBroken(expect: Expectation, outcome: CaseOutcome): string | null {
  switch (expect.kind) {
    case 'free':
      return null;
    case 'unknown-procedure':
      return outcome.kind === 'answered' && outcome.executed && outcome.appCode !== 'unknown-procedure'
        ? `a procedure the app does not have was executed: ${outcome.summary}` : null;
    case 'not-accepted':
      return outcome.kind === 'stream' && outcome.end === 'accepted' ? `a stream the node must not take (${expect.why}) was accepted` : null;
    case 'refuse': {
      const refused = outcome.kind === 'refused' || (outcome.kind === 'stream' && !streamEndsNotRefusals.has(outcome.end))
        || (outcome.kind === 'answered' && !outcome.executed && /^invalid/.test(outcome.summary));
      if (outcome.kind === 'silent') return null; // the node may have been unreachable; nothing was seen to act on it
      if (!refused) return `must be refused (${expect.why}) but was ${describeOutcome(outcome)}`;
      const detail = outcome.kind === 'refused' ? outcome.detail : outcome.kind === 'stream' ? outcome.detail : outcome.kind === 'answered' ? outcome.summary : '';
      if (expect.names !== undefined && !detail.includes(expect.names)) return `the refusal does not name ${expect.names}: ${detail}`;
      return null;
    }
  }
}

export function describeOutcome(o: CaseOutcome): string {
  switch (o.kind) {
    case 'refused': return `refused (${o.detail.slice(0, 160)})`;
    case 'accepted': return 'accepted';
    case 'answered': return `answered ${o.summary.slice(0, 160)}`;
    case 'stream': return `stream ${o.end}`;
    case 'silent': return `silent (${o.detail})`;
  }
}

/** Counts of a batch's outcomes, by kind. */
export function tally(outcomes: readonly CaseOutcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  return counts;
}

/** An answer of the client service as an outcome. */
export function summarize(a: ClientAnswer): { summary: string; executed: boolean; appCode?: string } {
  if (a.kind === 'executed') {
    return a.outcome.ok
      ? { summary: `executed: ${JSON.stringify(a.outcome.value).slice(0, 120)}`, executed: true }
      : { summary: `executed: ${a.outcome.code}: ${a.outcome.message.slice(0, 120)}`, executed: true, appCode: a.outcome.code };
  }
  if (a.kind === 'invalid') return { summary: `invalid ${a.field}: ${a.reason}`, executed: false };
  return { summary: a.kind, executed: false };
}
