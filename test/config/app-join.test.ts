// Proves that the app is part of the cluster, on the simulator: a node whose app is not
// compatible with the cluster's (another app, another major version, an app where the cluster
// runs none and the reverse) is refused when it asks to join: it never appears in a view, the
// views stay as they were, and the joiner halts (the simulator marks it crashed) after logging
// an error that names both identities. The same app at the same version joins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from '../../tools/sim/simulation.js';
import { startIdentity } from '../../tools/sim/sim-identity.js';
import { NodeStack } from '../../src/node/node-stack.js';
import type { App } from '../../src/rsm/app.js';
import type { Members, NodeId } from '../../src/env/types.js';
import { testApp } from '../../src/apps/test-app.js';
import { lockApp } from '../../src/apps/lock/lock-app.js';

/** Generous bound for one join in a quiet simulated network. */
const joinMs = 3000;

// `unknown`: each node of these clusters may run a different app, which is the point.
const test1 = testApp as unknown as App<unknown>;
const lock1 = lockApp as unknown as App<unknown>;
const withVersion = (app: App<unknown>, version: string): App<unknown> => ({ ...app, version });

interface Cluster {
  readonly sim: Simulation;
  stack(id: NodeId): NodeStack<unknown> | null;
  view(id: NodeId): { vid: number; members: Members } | null;
  /** Every view any node up now knows, as `vid:[members]`. */
  allViews(): string[];
}

/** A simulated cluster of full node stacks where node `id` runs `apps[id]` (undefined: no app); n1 is first. */
function cluster(apps: Record<NodeId, App<unknown> | undefined>, seed = 7): Cluster {
  const sim = new Simulation({ seed, keepTrace: true, traceLogs: true });
  const ids = Object.keys(apps);
  for (const id of ids) {
    sim.addNode<{ stack: NodeStack<unknown>; stop(): void }>(id, (world, node) => {
      const start = startIdentity(sim, id, node.disk, ids[0]!, () => 'c-1');
      const stack = new NodeStack<unknown>(world, {
        first: ids[0]!,
        incarnation: `${id}.${node.incarnation}`,
        firstLife: start.firstLife,
        clusterId: start.clusterId,
        app: apps[id],
      });
      stack.start();
      return { stack, stop: () => stack.stop() };
    });
  }
  const stack = (id: NodeId): NodeStack<unknown> | null => (sim.nodes.get(id)?.process?.['stack'] as NodeStack<unknown> | undefined) ?? null;
  const view = (id: NodeId) => {
    const core = stack(id)?.config.core;
    return core === undefined || core.vid === 0 ? null : { vid: core.vid, members: core.members() };
  };
  return {
    sim,
    stack,
    view,
    allViews: () => ids.flatMap((id) => stack(id)?.config.core.views().map((v) => `${v.vid}:[${v.members.join(',')}]`) ?? []),
  };
}

function startAndGrow(c: Cluster, ids: NodeId[]): void {
  for (let k = 0; k < ids.length; k++) {
    c.sim.nodes.get(ids[k]!)!.start();
    const want = JSON.stringify(ids.slice(0, k + 1));
    const formed = () => ids.slice(0, k + 1).every((id) => JSON.stringify(c.view(id)?.members) === want);
    c.sim.runUntil(c.sim.now + joinMs, formed);
    assert.ok(formed(), `[${ids.slice(0, k + 1).join(',')}] did not form`);
  }
}

/** Starts `joiner` next to the formed cluster `members` and checks that it is refused. */
function expectRefused(c: Cluster, members: NodeId[], joiner: NodeId, joinerApp: string, clusterApp: string, why: string): void {
  const before = c.view(members[0]!)!;
  const joinerNode = c.sim.nodes.get(joiner)!;
  joinerNode.start();
  c.sim.runUntil(c.sim.now + joinMs, () => joinerNode.status === 'down');
  assert.equal(joinerNode.status, 'down', 'the refused joiner halted');
  c.sim.runUntil(c.sim.now + joinMs);
  for (const m of members) assert.deepEqual(c.view(m), before, `${m}'s view is unchanged`);
  assert.ok(!c.allViews().some((v) => v.includes(joiner)), `${joiner} never in a view: ${c.allViews().join(' ')}`);
  assert.deepEqual(c.sim.failures, []);
  const lines = c.sim.trace.lines!;
  const logged = lines.find((l) => l.includes(`error ${joiner} config: join refused`));
  assert.ok(logged !== undefined, 'the joiner logged the refusal as an error');
  assert.ok(logged.includes(joinerApp) && logged.includes(clusterApp) && logged.includes(why), logged);
  assert.match(logged, /"vid":\d+/, 'the view is on the line');
  const crash = lines.find((l) => l.includes(`crash ${joiner} #1 (halt: node ${joiner} runs ${joinerApp}`));
  assert.ok(crash !== undefined, `the joiner halted because of the refusal:\n${lines.filter((l) => l.includes(`crash ${joiner}`)).join('\n')}`);
}

test('a joiner running another app is refused: it halts, never enters a view, and the views are unchanged', () => {
  const c = cluster({ n1: test1, n2: test1, n3: test1, n4: lock1 });
  startAndGrow(c, ['n1', 'n2', 'n3']);
  expectRefused(c, ['n1', 'n2', 'n3'], 'n4', `lock@${lockApp.version}`, `test@${testApp.version}`, 'another app');
});

test('a joiner running another version of the same app is refused', () => {
  const c = cluster({ n1: test1, n2: test1, n3: withVersion(test1, '2.0.0') });
  startAndGrow(c, ['n1', 'n2']);
  expectRefused(c, ['n1', 'n2'], 'n3', 'test@2.0.0', `test@${testApp.version}`, 'another version');
});

test('a joiner without an app is refused by a cluster that runs one, and one with an app by a cluster that runs none', () => {
  const noApp = cluster({ n1: test1, n2: test1, n3: undefined });
  startAndGrow(noApp, ['n1', 'n2']);
  expectRefused(noApp, ['n1', 'n2'], 'n3', 'no app', `test@${testApp.version}`, 'another app');

  const noAppCluster = cluster({ n1: undefined, n2: undefined, n3: test1 });
  startAndGrow(noAppCluster, ['n1', 'n2']);
  expectRefused(noAppCluster, ['n1', 'n2'], 'n3', `test@${testApp.version}`, 'no app', 'another app');
});

test('a joiner with only another patch version of the same app is refused too', () => {
  const patch = testApp.version.replace(/[0-9]+$/, (n) => String(Number(n) + 1));
  const c = cluster({ n1: test1, n2: test1, n3: withVersion(test1, patch) });
  startAndGrow(c, ['n1', 'n2']);
  expectRefused(c, ['n1', 'n2'], 'n3', `test@${patch}`, `test@${testApp.version}`, 'another version');
});
