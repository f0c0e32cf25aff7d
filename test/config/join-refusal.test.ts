// Proves the join refusal in the config core itself, scripted (no network): a member checks the
// joiner's app before anything else it would answer (admit, redirect, retry, "you are a member"),
// queues and proposes nothing for it; the joiner that hears a refusal stops asking, stops
// ticking, and hands a `JoinRefusedError` naming both identities up, once; a refusal that names
// a compatible app, or that reaches a member, is ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewManager } from '../../src/config/view-manager.js';
import type { Admission, PaxosPort } from '../../src/config/ports.js';
import { type AppIdentity, JoinRefusedError } from '../../src/config/app-identity.js';
import type { ConfigMessage } from '../../src/config/messages.js';
import { Outbox } from '../../src/env/outbox.js';
import { silentLogger } from '../../src/env/logger.js';
import type { Members, NodeId } from '../../src/env/types.js';

const testApp: AppIdentity = { name: 'test', version: '1.0.0' };
const lockApp: AppIdentity = { name: 'lock', version: '1.0.0' };

interface Core {
  readonly vm: ViewManager;
  readonly proposals: Array<{ instance: number; value: Members }>;
  readonly refusals: JoinRefusedError[];
  /** Runs `fn` with a fresh outbox, then runs its upcalls; returns the outbox. */
  run(fn: (out: Outbox<ConfigMessage>) => void): Outbox<ConfigMessage>;
}

/** A config core at `self` that knows `views` (view i+1 = views[i]) and runs `app`. */
function core(self: NodeId, views: Members[], app: AppIdentity | null): Core {
  const proposals: Array<{ instance: number; value: Members }> = [];
  const refusals: JoinRefusedError[] = [];
  const paxos: PaxosPort = {
    propose: (instance, value) => {
      proposals.push({ instance, value });
      return 'started';
    },
    peerKnows: () => {},
    highestKnown: views.length,
    decided: (i) => views[i - 1],
  };
  const vm = new ViewManager({
    self,
    incarnation: `${self}-1`,
    restarted: false,
    paxos,
    listener: { onViewCommitted: () => {} },
    app,
    onJoinRefused: (error) => refusals.push(error),
    clusterId: { current: () => 'c-1', adopt: () => assert.fail('a node that knows its cluster id learns none') },
    random: { next: () => 0 },
    logger: silentLogger,
  });
  const run = (fn: (out: Outbox<ConfigMessage>) => void): Outbox<ConfigMessage> => {
    const out = new Outbox<ConfigMessage>();
    fn(out);
    for (const upcall of out.upcalls) upcall();
    return out;
  };
  run((out) => vm.start(out));
  return { vm, proposals, refusals, run };
}

const join = (app: AppIdentity | null): ConfigMessage => ({ kind: 'join', incarnation: 'j-1', vid: 1, app });

const admissions: Admission[] = [{ kind: 'admit' }, { kind: 'first-healthy' }, { kind: 'redirect', to: 'n2' }, { kind: 'closed' }];

for (const admission of admissions) {
  test(`a member whose admission is ${admission.kind} answers a joiner with another app by a refusal naming both, and proposes nothing`, () => {
    const c = core('n1', [['n1'], ['n1', 'n2']], testApp);
    c.vm.setAdmission(admission);
    const out = c.run((o) => c.vm.onMessage('n9', join(lockApp), o));
    assert.deepEqual(out.sends, [{ kind: 'send', to: 'n9', msg: { kind: 'join-refused', vid: 2, memberApp: testApp, joinerApp: lockApp } }]);
    c.run((o) => c.vm.onTimer('config-tick', o));
    assert.deepEqual(c.proposals, [], 'the refused joiner was never proposed');
  });
}

test('a member admits a joiner with the same app and version as before', () => {
  const c = core('n1', [['n1']], testApp);
  c.vm.setAdmission({ kind: 'admit' });
  const out = c.run((o) => c.vm.onMessage('n9', join({ name: 'test', version: '1.0.0' }), o));
  assert.deepEqual(out.sends, [{ kind: 'send', to: 'n9', msg: { kind: 'join-reply', vid: 1, outcome: 'queued', to: null, clusterId: 'c-1' } }]);
  assert.deepEqual(c.proposals, [{ instance: 2, value: ['n1', 'n9'] }]);
});

test('a listed node that asks to join with another app is refused too, not told it is a member', () => {
  const c = core('n1', [['n1', 'n2']], null);
  const out = c.run((o) => c.vm.onMessage('n2', join(testApp), o));
  assert.deepEqual(out.sends, [{ kind: 'send', to: 'n2', msg: { kind: 'join-refused', vid: 1, memberApp: null, joinerApp: testApp } }]);
});

test('a refused joiner hands up one JoinRefusedError naming both apps, the refuser and its view, and asks no more', () => {
  const c = core('n9', [['n1']], lockApp);
  const first = c.run((o) => c.vm.onTimer('config-tick', o));
  assert.deepEqual(first.sends.map((s) => s.msg.kind), ['join'], 'an outside node asks to join');
  assert.deepEqual(first.sends[0]!.msg, { kind: 'join', incarnation: 'n9-1', vid: 1, app: lockApp });
  const out = c.run((o) => c.vm.onMessage('n1', { kind: 'join-refused', vid: 3, memberApp: testApp, joinerApp: lockApp }, o));
  assert.equal(c.refusals.length, 1);
  const error = c.refusals[0]!;
  assert.ok(error instanceof JoinRefusedError);
  assert.deepEqual([error.node, error.by, error.vid, error.app, error.clusterApp], ['n9', 'n1', 3, lockApp, testApp]);
  assert.match(error.message, /^node n9 runs lock@1\.0\.0, but the cluster it asked to join runs test@1\.0\.0 \(another app; refused by n1, a member of view 3\)/);
  assert.deepEqual(out.timers, [{ key: 'config-tick', delayMs: null }], 'its tick stops');
  assert.equal(c.vm.refusal, error);
  // Whatever comes later, it neither asks again nor hands up a second refusal.
  for (let i = 0; i < 10; i++) {
    const later = c.run((o) => c.vm.onTimer('config-tick', o));
    assert.deepEqual(later.sends, []);
    assert.deepEqual(later.timers, []);
  }
  c.run((o) => c.vm.onMessage('n1', { kind: 'join-refused', vid: 3, memberApp: testApp, joinerApp: lockApp }, o));
  assert.equal(c.refusals.length, 1);
});

test('a refusal that names a compatible app, or that reaches a member, is ignored', () => {
  const outside = core('n9', [['n1']], { name: 'test', version: '1.0.0' });
  outside.run((o) => outside.vm.onMessage('n1', { kind: 'join-refused', vid: 1, memberApp: testApp, joinerApp: null }, o));
  assert.deepEqual(outside.refusals, []);
  assert.equal(outside.vm.refusal, null);
  const member = core('n1', [['n1']], testApp);
  member.run((o) => member.vm.onMessage('n2', { kind: 'join-refused', vid: 1, memberApp: lockApp, joinerApp: testApp }, o));
  assert.deepEqual(member.refusals, []);
  const tick = member.run((o) => member.vm.onTimer('config-tick', o));
  assert.deepEqual(tick.timers, [{ key: 'config-tick', delayMs: 100 }], 'the member ticks on');
});
