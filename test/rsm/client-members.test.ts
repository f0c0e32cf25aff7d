// The client keeps its member list current (design §5), on the simulator: seeded clusters of
// full node stacks, clients given fewer addresses than the cluster has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RsmScenario } from './support.js';

test('a client given only the primary learns the members and survives the primary\'s death', () => {
  // Without the learned members the client could only call the dead address until its deadline.
  const s = new RsmScenario(121);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1'], { members: ['n1'] }).start();
  load.waitMoreAcked(10);
  const client = load.clients.get('c1')!;
  assert.deepEqual([...client.core.replicas].sort(), ['n1', 'n2', 'n3'], 'the view learned from the cluster');
  s.cluster.crash('n1');
  s.waitServing(['n2', 'n3']);
  load.waitEveryClientAcked(5);
  assert.equal(client.core.primary, 'n2');
  s.finish(load, ['n2', 'n3']);
});

test('a client follows the cluster as it changes: it learns a member that joined after it started', () => {
  // The view the client learns replaces the one it knew; a joiner is in it once asked again.
  const s = new RsmScenario(122, ['n1', 'n2', 'n3', 'n4']);
  s.growTo(['n1', 'n2', 'n3']);
  const load = s.load(['c1'], { members: ['n1'] }).start();
  load.waitMoreAcked(5);
  s.cluster.start('n4');
  s.waitServing(['n1', 'n2', 'n3', 'n4']);
  // A failover makes the client ask again: crash the primary, and the view it learns has n4.
  s.cluster.crash('n1');
  s.waitServing(['n2', 'n3', 'n4']);
  load.waitEveryClientAcked(5);
  const known = load.clients.get('c1')!.core.replicas;
  assert.deepEqual(known.slice(0, 3), ['n2', 'n3', 'n4'], `the current view first: ${known.join(',')}`);
  assert.ok(known.includes('n1'), 'the given address stays, as the fallback');
  s.finish(load, ['n2', 'n3', 'n4']);
});
