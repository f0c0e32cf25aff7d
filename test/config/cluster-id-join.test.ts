// Proves, in the config core itself (scripted, no network), how a joiner with a fresh data
// directory learns its cluster's id: from the join reply of the member it asked, once, and only
// then does it let Paxos talk (the catch-up from that member comes after the id is kept); a
// reply from anybody else teaches nothing, and neither does a reply to a node that has an id.
// Members put their id in every join reply; contacts named at start are asked too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewManager } from '../../src/config/view-manager.js';
import type { ClusterIdPort, PaxosPort } from '../../src/config/ports.js';
import type { ConfigMessage } from '../../src/config/messages.js';
import { Outbox } from '../../src/env/outbox.js';
import { configCodec } from '../../src/config/codec.js';
import { InvalidMessageError } from '../../src/env/errors.js';
import { silentLogger } from '../../src/env/logger.js';
import type { Members, NodeId } from '../../src/env/types.js';

interface Core {
  readonly vm: ViewManager;
  /** What happened, in order: ids adopted and Paxos catch-ups asked for. */
  readonly events: string[];
  run(fn: (out: Outbox<ConfigMessage>) => void): Outbox<ConfigMessage>;
}

/** A config core at `self` knowing `views`, holding cluster id `id` (null: none yet). */
function core(self: NodeId, views: Members[], id: string | null, contacts: NodeId[] = [], random = 0): Core {
  const events: string[] = [];
  let held = id;
  const paxos: PaxosPort = {
    propose: () => 'started',
    peerKnows: (peer, instance) => events.push(`peerKnows ${peer} ${instance} (id ${held ?? 'none'})`),
    highestKnown: views.length,
    decided: (i) => views[i - 1],
  };
  const clusterId: ClusterIdPort = {
    current: () => held,
    adopt: (learned) => {
      events.push(`adopt ${learned}`);
      held = learned;
    },
  };
  const vm = new ViewManager({
    self, incarnation: `${self}-1`, restarted: false, paxos, listener: { onViewCommitted: () => {} }, app: null,
    onJoinRefused: () => assert.fail('no refusal here'), clusterId, contacts, random: { next: () => random }, logger: silentLogger,
  });
  const run = (fn: (out: Outbox<ConfigMessage>) => void): Outbox<ConfigMessage> => {
    const out = new Outbox<ConfigMessage>();
    fn(out);
    for (const upcall of out.upcalls) upcall();
    return out;
  };
  run((out) => vm.start(out));
  return { vm, events, run };
}

const reply = (clusterId: string, vid = 3): ConfigMessage => ({ kind: 'join-reply', vid, outcome: 'queued', to: null, clusterId });

test('a joiner without an id learns it from the member it asked, keeps it before Paxos talks, and learns no other', () => {
  const c = core('n9', [['n1']], null);
  const ask = c.run((o) => c.vm.onTimer('config-tick', o));
  assert.deepEqual(ask.sends.map((s) => [s.to, s.msg.kind]), [['n1', 'join']]);
  // Somebody it did not ask (a stray process) answers first: no id learned from it.
  c.run((o) => c.vm.onMessage('n7', reply('stray-id'), o));
  assert.deepEqual(c.events, ['peerKnows n7 3 (id none)']);
  c.run((o) => c.vm.onMessage('n1', reply('cluster-a'), o));
  assert.deepEqual(c.events.slice(1), ['adopt cluster-a', 'peerKnows n1 3 (id cluster-a)'], 'adopted before the catch-up');
  // Once learned, another id is never taken.
  c.run((o) => c.vm.onMessage('n1', reply('cluster-b'), o));
  assert.deepEqual(c.events.slice(3), ['peerKnows n1 3 (id cluster-a)']);
});

test('a node that has an id learns none from a join reply; an empty id teaches nothing', () => {
  const known = core('n9', [['n1']], 'mine');
  known.run((o) => known.vm.onTimer('config-tick', o));
  known.run((o) => known.vm.onMessage('n1', reply('other'), o));
  assert.ok(!known.events.some((e) => e.startsWith('adopt')), known.events.join('; '));
  const fresh = core('n9', [['n1']], null);
  fresh.run((o) => fresh.vm.onTimer('config-tick', o));
  fresh.run((o) => fresh.vm.onMessage('n1', reply(''), o));
  assert.ok(!fresh.events.some((e) => e.startsWith('adopt')));
});

test('a redirect is followed, and the id is learned from the member redirected to once it answers', () => {
  const c = core('n9', [['n1']], null);
  c.run((o) => c.vm.onTimer('config-tick', o));
  const follow = c.run((o) => c.vm.onMessage('n1', { kind: 'join-reply', vid: 2, outcome: 'redirect', to: 'n2', clusterId: 'cluster-a' }, o));
  assert.deepEqual(c.events.filter((e) => e.startsWith('adopt')), ['adopt cluster-a'], 'n1 was asked: its id counts');
  assert.deepEqual(follow.sends.map((s) => [s.to, s.msg.kind]), [['n2', 'join']]);
});

test('a join reply carries its cluster id on the wire; an absurdly long one is refused naming the field', () => {
  const wire = configCodec.encode({ kind: 'join-reply', vid: 2, outcome: 'retry', to: null, clusterId: 'cluster-a' });
  assert.deepEqual(configCodec.decode(wire), { kind: 'join-reply', vid: 2, outcome: 'retry', to: null, clusterId: 'cluster-a' });
  assert.equal((configCodec.decode({ join_reply: { vid: 2, outcome: 'retry' } }) as { clusterId: string }).clusterId, '', 'absent: none');
  assert.throws(() => configCodec.decode({ join_reply: { vid: 2, outcome: 'retry', cluster_id: 'x'.repeat(65) } }),
    (e: unknown) => e instanceof InvalidMessageError && e.field === 'join_reply.cluster_id');
});

test('a member puts its cluster id in every join reply', () => {
  const c = core('n1', [['n1']], 'cluster-a');
  c.vm.setAdmission({ kind: 'admit' });
  const out = c.run((o) => c.vm.onMessage('n9', { kind: 'join', incarnation: 'j', vid: 1, app: null }, o));
  assert.deepEqual(out.sends.map((s) => s.msg), [{ kind: 'join-reply', vid: 1, outcome: 'queued', to: null, clusterId: 'cluster-a' }]);
});

test('contacts named at start are asked too: after the members it knows, when they do not answer', () => {
  // random() is just below 1: a new target after an unanswered request is the last candidate, the contact.
  const c = core('n9', [['n1']], null, ['n5'], 0.99);
  const asked: NodeId[] = [];
  for (let tick = 0; tick < 10; tick++) {
    const out = c.run((o) => c.vm.onTimer('config-tick', o));
    asked.push(...out.sends.map((s) => s.to));
  }
  assert.deepEqual(asked.slice(0, 2), ['n1', 'n5'], 'the first view\'s member first, then the contact');
  // The contact answers (a live member of a later view): its id is learned like any member's.
  c.run((o) => c.vm.onMessage('n5', reply('cluster-a', 7), o));
  assert.deepEqual(c.events, ['adopt cluster-a', 'peerKnows n5 7 (id cluster-a)']);
});
