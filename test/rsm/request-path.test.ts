// The primary's request path at the core: arrival only joins a request to the same one in
// flight; the client table decides once per request, when it executes, on every replica alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type TestState, testApp } from '../../src/apps/test-app.js';
import type { Admission, SelfStatus } from '../../src/config/view-manager.js';
import { silentLogger } from '../../src/env/logger.js';
import { defaultRsmOptions } from '../../src/options.js';
import { Outbox } from '../../src/env/outbox.js';
import { ReturnAddress } from '../../src/env/transport.js';
import type { Members } from '../../src/env/types.js';
import { type ClientAnswer, type Request, newRequest } from '../../src/rsm/messages.js';
import { Replica, type RsmMutations, type RsmOutbox } from '../../src/rsm/replica.js';

interface Executed {
  readonly seqno: number;
  readonly request: Request;
  readonly ran: boolean;
}

/**
 * The primary `a` of view 1 = [a, b], serving (b reported the same state), driven by hand: the
 * test plays backup b. Every execution is recorded with whether the app ran it.
 */
function servingPrimary(mutations: RsmMutations = {}) {
  const views: Members[] = [['a', 'b']];
  const config = {
    get vid() { return views.length; },
    get status(): SelfStatus { return 'member'; },
    members: (vid?: number) => views[(vid ?? views.length) - 1]!,
    setAdmission: (_a: Admission) => {},
  };
  const executed: Executed[] = [];
  const replica = new Replica<TestState>({
    clock: { now: () => 0 }, self: 'a', app: testApp, config, logger: silentLogger, genesis: true, mutations, options: defaultRsmOptions,
    observer: { executed: (vs, request, _outcome, ran) => executed.push({ seqno: vs.seqno, request, ran }) },
  });
  const run = (f: (out: RsmOutbox) => void): RsmOutbox => {
    const out: RsmOutbox = new Outbox();
    f(out);
    for (const u of out.upcalls) u();
    return out;
  };
  run((out) => replica.onViewCommitted(out));
  run((out) => replica.onMessage('b', { kind: 'sync-status', vid: 1, last: { vid: 0, seqno: 0 }, complete: true, syncedVid: 1, leaseWaitMs: 0 }, out));
  assert.equal(replica.status, 'normal');
  /** A client's call; returns what the primary sent and answered at once. */
  const call = (from: ReturnAddress, request: Request): RsmOutbox => run((o) => replica.onClientCall(from, { kind: 'invoke', request }, o));
  /** Backup b acknowledges `seqno`; returns the answers that released. */
  const ack = (seqno: number): ClientAnswer[] =>
    run((o) => replica.onMessage('b', { kind: 'invoke-ack', vs: { vid: 1, seqno } }, o)).answers.map((x) => x.answer);
  /** Backup b acknowledges `seqno`; returns the answers that released, with their return addresses. */
  const ackTo = (seqno: number) => run((o) => replica.onMessage('b', { kind: 'invoke-ack', vs: { vid: 1, seqno } }, o)).answers;
  return { replica, executed, call, ack, ackTo };
}

const append = (seq: number, item: string, clientId = 'c'): Request => newRequest(clientId, seq, 'append', { item });

test('a retry of an executed request is stamped again and answered from the client table, without running again', () => {
  // The execution step decides: the retry gets the stored outcome; the app ran the request once.
  const p = servingPrimary();
  p.call(new ReturnAddress('first'), append(1, 'x'));
  assert.deepEqual(p.ack(1), [{ kind: 'executed', clientId: 'c', seq: 1, outcome: { ok: true, value: 0 } }]);
  const retry = p.call(new ReturnAddress('retry'), append(1, 'x'));
  assert.deepEqual(retry.answers, [], 'not answered on arrival: the table is consulted when the retry executes');
  assert.deepEqual(retry.sends.map((s) => s.msg.kind === 'invoke' && s.msg.firstSeqno), [2], 'the retry is replicated at the next viewstamp');
  assert.deepEqual(p.ack(2), [{ kind: 'executed', clientId: 'c', seq: 1, outcome: { ok: true, value: 0 } }]);
  assert.deepEqual(p.executed.map((e) => [e.seqno, e.ran]), [[1, true], [2, false]]);
  assert.deepEqual(p.replica.state!.list, ['x'], 'appended once');
});

test('a retry arriving while its request is in flight joins it: one viewstamp, both return addresses answered', () => {
  // Arrival's only decision: the same (clientId, seq) and arguments in flight.
  const p = servingPrimary();
  const first = p.call(new ReturnAddress('first'), append(1, 'x'));
  const joined = p.call(new ReturnAddress('joined'), append(1, 'x'));
  assert.equal(first.sends.length, 1);
  assert.deepEqual([joined.sends, joined.answers], [[], []], 'nothing stamped, nothing answered');
  assert.deepEqual(p.ack(1).map((a) => a.kind), ['executed', 'executed']);
  assert.deepEqual(p.executed.map((e) => [e.seqno, e.ran]), [[1, true]]);
});

test('another request under the (clientId, seq) of one in flight is refused at once as invalid', () => {
  // A client id used by two clients: the second request cannot be the first one's retry.
  const p = servingPrimary();
  p.call(new ReturnAddress('first'), append(1, 'x'));
  const other = p.call(new ReturnAddress('other'), append(1, 'y'));
  assert.equal(other.sends.length, 0);
  const [answer] = other.answers.map((a) => a.answer);
  assert.ok(answer?.kind === 'invalid' && answer.field === 'seq' && /is in flight under this number/.test(answer.reason), JSON.stringify(answer));
  // The first executes and only its own client is answered with its outcome; the other never runs.
  const released = p.ackTo(1);
  assert.deepEqual(released.map((a) => [a.to.toString(), a.answer]), [['first', { kind: 'executed', clientId: 'c', seq: 1, outcome: { ok: true, value: 0 } }]]);
  assert.deepEqual(p.replica.state!.list, ['x']);
});


test('a request conflicting with an executed one, and a late duplicate, execute without running and are refused', () => {
  // Conflict and stale are decisions of the execution step: replicated, never run, answered invalid and stale.
  const p = servingPrimary();
  p.call(new ReturnAddress('1'), append(1, 'x'));
  p.ack(1);
  p.call(new ReturnAddress('2'), { ...append(2, 'y'), answeredBelow: 2 }); // the client had 1 answered
  p.ack(2);
  p.call(new ReturnAddress('conflict'), append(2, 'z'));
  const [conflict] = p.ack(3);
  assert.ok(conflict?.kind === 'invalid' && conflict.field === 'seq' && /was executed under this number/.test(conflict.reason), JSON.stringify(conflict));
  p.call(new ReturnAddress('stale'), append(1, 'x'));
  assert.deepEqual(p.ack(4), [{ kind: 'stale', clientId: 'c', seq: 1 }]);
  assert.deepEqual(p.executed.map((e) => [e.seqno, e.ran]), [[1, true], [2, true], [3, false], [4, false]]);
  assert.deepEqual(p.replica.state!.list, ['x', 'y']);
});

test('with the client table switched off (a test mutation), a retry runs again: the break the checkers must catch', () => {
  // Proves the mutation still breaks at-most-once now that the table is consulted only at execution.
  const p = servingPrimary({ noClientTable: true });
  p.call(new ReturnAddress('first'), append(1, 'x'));
  p.call(new ReturnAddress('retry'), append(1, 'x'));
  p.ack(1);
  p.ack(2);
  assert.deepEqual(p.replica.state!.list, ['x', 'x']);
  assert.deepEqual(p.executed.map((e) => e.ran), [true, true]);
});
