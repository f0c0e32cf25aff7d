// Proves, on the simulator, that a cluster re-created on the same addresses while a process of the
// old one still runs bricks nobody: the old process's messages carry the old cluster id and are
// refused, the new cluster forms, serves and restarts, the old process runs on in its own world.
// The same scenario with one id for both clusters (what happened before clusters had ids) merges
// the two worlds: that is what the id check stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from '../../tools/sim/simulation.js';
import { startIdentity } from '../../tools/sim/sim-identity.js';
import { NodeStack } from '../../src/node/node-stack.js';
import type { App } from '../../src/rsm/app.js';
import type { Members, NodeId } from '../../src/env/types.js';
import { testApp } from '../../src/apps/test-app.js';

const app = testApp as unknown as App<unknown>;
const ids = ['n1', 'n2', 'n3', 'n4'];

interface World {
  readonly sim: Simulation;
  stack(id: NodeId): NodeStack<unknown> | null;
  /** Every view `id` knows, as `vid:[members]`. */
  views(id: NodeId): string[];
  clusterId(id: NodeId): string | null | undefined;
  /** Whether every node of `on` is a normal replica of a view of `members` (in any order). */
  serving(on: NodeId[], members: Members): boolean;
}

/** Four nodes of the test app, n1 first; `newId` makes the id of each cluster n1 creates. */
function world(newId: () => string): World {
  const sim = new Simulation({ seed: 11, keepTrace: true, traceLogs: true });
  for (const id of ids) {
    sim.addNode<{ stack: NodeStack<unknown>; stop(): void }>(id, (w, node) => {
      const start = startIdentity(sim, id, node.disk, 'n1', newId);
      const stack = new NodeStack<unknown>(w, {
        first: 'n1', incarnation: `${id}.${node.incarnation}`, firstLife: start.firstLife, clusterId: start.clusterId, app,
      });
      stack.start();
      return { stack, stop: () => stack.stop() };
    });
  }
  const stack = (id: NodeId): NodeStack<unknown> | null => (sim.nodes.get(id)?.process?.['stack'] as NodeStack<unknown> | undefined) ?? null;
  return {
    sim,
    stack,
    views: (id) => stack(id)?.config.core.views().map((v) => `${v.vid}:[${v.members.join(',')}]`) ?? [],
    clusterId: (id) => sim.nodes.get(id)?.disk.identity?.clusterId,
    serving: (on, members) => on.every((id) => {
      const s = stack(id)?.status();
      return s !== undefined && s.configStatus === 'member' && s.replicaStatus === 'normal' && JSON.stringify([...s.members].sort()) === JSON.stringify([...members].sort());
    }),
  };
}

/** The old cluster [n1..n4] forms; then n1..n3 are stopped, their disks wiped, and started again while n4 runs on. */
function recreate(w: World): void {
  for (const id of ids) {
    w.sim.nodes.get(id)!.start();
    w.sim.runUntil(w.sim.now + 3000, () => w.serving(ids.slice(0, ids.indexOf(id) + 1), ids.slice(0, ids.indexOf(id) + 1)));
  }
  assert.ok(w.serving(ids, ids), `the old cluster formed: ${w.views('n1').join(' ')}`);
  for (const id of ['n1', 'n2', 'n3']) {
    const node = w.sim.nodes.get(id)!;
    node.crash('operator stops it');
    node.disk.wipe();
  }
  for (const id of ['n1', 'n2', 'n3']) {
    w.sim.nodes.get(id)!.start();
    w.sim.runUntil(w.sim.now + 200);
  }
}

test('a cluster re-created on the same addresses while an old process lives forms, serves and restarts; the old process is refused', () => {
  let made = 0;
  const w = world(() => `cluster-${++made}`);
  recreate(w);
  const fresh = ['n1', 'n2', 'n3'];
  const formed = (): boolean => w.serving(fresh, fresh);
  w.sim.runUntil(w.sim.now + 20_000, formed);
  assert.ok(formed(), `the new cluster did not form: ${fresh.map((id) => `${id}: ${w.views(id).join(' ')}`).join('; ')}`);
  assert.deepEqual(fresh.map((id) => w.clusterId(id)), ['cluster-2', 'cluster-2', 'cluster-2']);
  assert.equal(w.clusterId('n4'), 'cluster-1');
  assert.ok(w.sim.trace.lines!.some((l) => /refuse n4>n[123] synod\.(paxos\.Paxos|config\.Config): another-id/.test(l)), 'the old process was refused');
  // Nobody took in anything of the other world, and nobody stopped.
  for (const id of fresh) assert.ok(w.views(id).every((v) => !v.includes('n4')), `${id}: ${w.views(id).join(' ')}`);
  assert.ok(w.views('n4').every((v) => !/\[n1,n2,n3\]$/.test(v) || v.startsWith('3:')), w.views('n4').join(' '));
  assert.equal(w.sim.nodes.get('n4')!.status, 'up');
  assert.deepEqual(w.sim.failures, []);
  // Every process of both worlds restarts from its disk, one after the other (nothing bricked), and
  // the new cluster serves again after each restart (it keeps the app's state in memory: a rolling restart).
  for (const id of ids) {
    w.sim.nodes.get(id)!.crash('restart');
    w.sim.nodes.get(id)!.start();
    w.sim.runUntil(w.sim.now + 20_000, formed);
    assert.ok(formed(), `after ${id} restarted: ${fresh.map((f) => `${f}: ${w.views(f).join(' ')}`).join('; ')}`);
  }
  assert.equal(w.sim.nodes.get('n4')!.status, 'up');
  assert.equal(w.clusterId('n4'), 'cluster-1');
  assert.deepEqual(w.sim.failures, []);
});

test('the same re-creation with one id for both clusters (as before ids) lets the old process into the new world', () => {
  // The counter-proof: without a new id nothing tells the two worlds apart.
  const w = world(() => 'same-id');
  recreate(w);
  const fresh = ['n1', 'n2', 'n3'];
  w.sim.runUntil(w.sim.now + 20_000, () => fresh.some((id) => w.views(id).some((v) => v.includes('n4'))));
  assert.ok(fresh.some((id) => w.views(id).some((v) => v.includes('n4'))),
    `no new node learned a view of the old world: ${fresh.map((id) => `${id}: ${w.views(id).join(' ')}`).join('; ')}`);
});
