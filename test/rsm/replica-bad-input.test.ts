// Bad input reaching a replica's core: typed refusals, nothing executed, nothing replicated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox } from '../../src/env/outbox.js';
import { silentLogger } from '../../src/env/logger.js';
import type { Members } from '../../src/env/types.js';
import type { Admission, SelfStatus } from '../../src/config/view-manager.js';
import { Replica, type RsmOutbox } from '../../src/rsm/replica.js';
import { ReturnAddress } from '../../src/env/transport.js';
import { testApp, type TestState } from '../../src/apps/test-app.js';
import { defaultRsmOptions } from '../../src/options.js';
import { newRequest } from '../../src/rsm/messages.js';

/** A replica of the test app in a one-member cluster (its own primary), serving view 1. */
function servingPrimary(): { replica: Replica<TestState>; run: (f: (out: RsmOutbox) => void) => RsmOutbox } {
  const views: Members[] = [['a']];
  const config = {
    get vid() { return views.length; },
    get status(): SelfStatus { return 'member'; },
    members: (vid?: number) => views[(vid ?? views.length) - 1]!,
    setAdmission: (_a: Admission) => {},
  };
  const replica = new Replica<TestState>({ clock: { now: () => 0 }, self: 'a', app: testApp, config, logger: silentLogger, genesis: true, options: defaultRsmOptions });
  const run = (f: (out: RsmOutbox) => void): RsmOutbox => {
    const out: RsmOutbox = new Outbox();
    f(out);
    for (const u of out.upcalls) u();
    return out;
  };
  run((out) => replica.onViewCommitted(out));
  assert.equal(replica.status, 'normal');
  return { replica, run };
}

test('an unknown procedure is refused as invalid and nothing is stamped or executed', () => {
  const { replica, run } = servingPrimary();
  const out = run((o) => replica.onClientCall(new ReturnAddress('c 1'), { kind: 'invoke', request: newRequest('c', 1, 'nope', {}) }, o));
  assert.deepEqual(out.answers.map((s) => s.answer), [{ kind: 'invalid', clientId: 'c', seq: 1, field: 'proc', reason: 'unknown procedure "nope"' }]);
  assert.equal(replica.lastExecuted?.seqno, 0);
  assert.equal(replica.state!.list.length, 0);
});

test('an invoke for a view that does not exist is rejected and executes nothing', () => {
  const { replica, run } = servingPrimary();
  const out = run((o) => replica.onMessage('a', { kind: 'invoke', vid: 999, firstSeqno: 1, requests: [newRequest('x', 1, 'append', { item: 'forged' })] }, o));
  assert.deepEqual(out.sends.map((s) => s.msg), [{ kind: 'invoke-reject', vs: { vid: 999, seqno: 1 }, vid: 1 }]);
  assert.equal(replica.state!.list.length, 0);
  // State-transfer requests for a view that does not exist get nothing either.
  const pull = run((o) => replica.onMessage('b', { kind: 'sync-pull', vid: 999, target: { vid: 0, seqno: 0 }, offset: 0 }, o));
  assert.deepEqual(pull.sends.map((s) => s.msg.kind), ['sync-unavailable']);
});

test('an app error travels inside the reply and the request counts as executed', () => {
  const { replica, run } = servingPrimary();
  const out = run((o) => replica.onClientCall(new ReturnAddress('c 1'), { kind: 'invoke', request: newRequest('c', 1, 'refuse', { code: 'nope' }) }, o));
  assert.deepEqual(out.answers.map((s) => s.answer), [{ kind: 'executed', clientId: 'c', seq: 1, outcome: { ok: false, code: 'nope', message: 'refused on request' } }]);
  const again = run((o) => replica.onClientCall(new ReturnAddress('c 2'), { kind: 'invoke', request: newRequest('c', 1, 'refuse', { code: 'nope' }) }, o));
  assert.deepEqual(again.answers.map((s) => s.answer), out.answers.map((s) => s.answer), 'a retry is answered from the client table');
  assert.equal(replica.lastExecuted?.seqno, 2, 'the retry was stamped too (the table decides when a request executes)');
});
