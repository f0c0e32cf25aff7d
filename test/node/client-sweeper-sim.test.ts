// The client table's sweeper in the simulator (deterministic, virtual time), as every simulated
// node runs it (NodeStack): only the serving primary sweeps, through its own RSM, with its own
// wall clock; idle clients' entries go on every replica alike; an idle client's next call is
// served at once, and a call retried after its client's entry went is refused, never run twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallResult } from '../../src/client/client-core.js';
import { ClientExpiredError } from '../../src/client/errors.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import type { NodeId } from '../../src/env/types.js';
import { type TestState, testApp } from '../../src/apps/test-app.js';
import { sweeperClientId } from '../../src/node/client-sweeper.js';
import type { Json } from '../../src/rsm/app.js';
import { type Outcome, sweepProc } from '../../src/rsm/client-table.js';
import type { Request } from '../../src/rsm/messages.js';
import type { Replica } from '../../src/rsm/replica.js';
import { SimCluster } from '../../tools/sim/cluster.js';

const ids = ['n1', 'n2', 'n3'];
const rsm = { clientTableSweepMs: 100, clientRetentionMs: 1000, clientEvictableAfterMs: 500 };

class Scenario {
  readonly cluster: SimCluster<TestState>;
  readonly executed: Array<{ node: NodeId; request: Request; outcome: Outcome; ran: boolean }> = [];

  constructor(seed: number) {
    this.cluster = new SimCluster<TestState>({
      seed,
      ids,
      app: testApp,
      rsm,
      replicaObserver: (node) => ({ executed: (_vs, request, outcome, ran) => this.executed.push({ node, request, outcome, ran }) }),
    });
    this.cluster.start();
    assert.ok(this.cluster.runUntil(() => this.primary() !== null && ids.every((id) => this.replica(id)?.status === 'normal'), 10_000), 'three nodes serving');
  }

  replica(id: NodeId): Replica<TestState> | null {
    return this.cluster.node(id).process?.stack.rsm?.core ?? null;
  }

  primary(): NodeId | null {
    return ids.find((id) => this.replica(id)?.isPrimary === true && this.replica(id)?.status === 'normal') ?? null;
  }

  call(client: RsmClient, proc: string, args: Json): CallResult {
    let result: CallResult | null = null;
    client.submit(proc, args, { deadlineMs: 5000 }, (r) => (result = r));
    assert.ok(this.cluster.runUntil(() => result !== null, 6000), `${proc} did not complete`);
    return result!;
  }

  /** The client table's size on every live replica. */
  sizes(): number[] {
    return ids.map((id) => this.replica(id)?.clients ?? -1);
  }
}

test('only the serving primary sweeps, and an idle client\'s entry goes on every replica', () => {
  const s = new Scenario(601);
  const primary = s.primary()!;
  const client = s.cluster.addClient('c1', { options: { newClientWindowMs: 200 } });
  assert.deepEqual(s.call(client, 'append', { item: 'a' }), { ok: true, value: 0 });
  s.cluster.runFor(300);
  assert.deepEqual(s.sizes(), [1, 1, 1]);
  s.cluster.runFor(rsm.clientRetentionMs + 3 * rsm.clientTableSweepMs);
  assert.deepEqual(s.sizes(), [0, 0, 0], 'dropped by the replicated clock, everywhere');
  const sweeps = s.executed.filter((e) => e.request.proc === sweepProc);
  assert.ok(sweeps.length >= 3 * 10, `${sweeps.length} sweep executions`);
  assert.deepEqual([...new Set(sweeps.map((e) => e.request.clientId))], [sweeperClientId(primary)], 'stamped by the primary alone');
  assert.ok(sweeps.every((e) => e.outcome.ok), 'every sweep executed');
  // A new primary takes over the sweeping.
  s.cluster.crash(primary);
  assert.ok(s.cluster.runUntil(() => s.primary() !== null && s.primary() !== primary, 10_000), 'a new primary serves');
  const next = s.primary()!;
  s.cluster.runFor(500);
  assert.ok(s.executed.some((e) => e.request.proc === sweepProc && e.request.clientId === sweeperClientId(next)), 'the new primary sweeps');
  assert.deepEqual(s.cluster.sim.failures, []);
});

test('an idle client\'s next call is served, once: the refused attempt is sent again as a new client\'s', () => {
  const s = new Scenario(602);
  const client = s.cluster.addClient('c1', { options: { newClientWindowMs: 200 } });
  assert.deepEqual(s.call(client, 'append', { item: 'a' }), { ok: true, value: 0 });
  s.cluster.runFor(rsm.clientRetentionMs + 5 * rsm.clientTableSweepMs);
  assert.deepEqual(s.call(client, 'append', { item: 'b' }), { ok: true, value: 1 }, 'no error reaches the caller');
  const mine = s.executed.filter((e) => e.request.clientId === 'c1' && e.node === s.primary());
  assert.deepEqual(mine.map((e) => [e.request.first, e.ran, e.outcome.ok ? 'ok' : e.outcome.code]), [
    [true, true, 'ok'], // the first call of a new client
    [false, false, 'client-expired'], // the second, unmarked: the entry had gone
    [true, true, 'ok'], // sent again under the next number, marked
  ]);
  for (const id of ids) assert.deepEqual(s.replica(id)!.state!.list, ['a', 'b']);
});

test('a call retried after its client\'s entry went is told ClientExpiredError and is not run again', () => {
  const s = new Scenario(603);
  const primary = s.primary()!;
  const client = s.cluster.addClient('c1', { options: { newClientWindowMs: 200 } });
  assert.deepEqual(s.call(client, 'append', { item: 'a' }), { ok: true, value: 0 });
  // The next call runs, but its answer never reaches the client: the client is cut off the moment
  // the primary executed it, and stays cut off until its entry has gone.
  let result: CallResult | null = null;
  client.submit('append', { item: 'b' }, { deadlineMs: 10_000 }, (r) => (result = r));
  const ranB = (): boolean => s.executed.some((e) => e.node === primary && e.ran && (e.request.args as { item?: string }).item === 'b');
  assert.ok(s.cluster.runUntil(ranB, 2000), 'b executed');
  s.cluster.sim.network.split(['c1'], ids);
  s.cluster.runFor(rsm.clientRetentionMs + 5 * rsm.clientTableSweepMs);
  assert.deepEqual(s.sizes(), [0, 0, 0], 'c1\'s entry has gone');
  s.cluster.heal();
  assert.ok(s.cluster.runUntil(() => result !== null, 10_000), 'the call ends');
  const r = result as CallResult | null;
  assert.ok(r !== null && !r.ok && r.error instanceof ClientExpiredError, `ClientExpiredError expected, got ${JSON.stringify(r)}`);
  assert.ok(r.error.attempts > 1);
  for (const id of ids) assert.deepEqual(s.replica(id)!.state!.list, ['a', 'b'], `${id}: b ran once`);
  // The client's next call is served as a new client's.
  assert.deepEqual(s.call(client, 'append', { item: 'c' }), { ok: true, value: 2 });
  assert.deepEqual(s.cluster.sim.failures, []);
});
