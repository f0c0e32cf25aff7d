// Proves the bounded client table on real processes (three `synod node --app test` replicas with
// the table's bounds set short by flags): a retry of a call whose client's entry expired is
// refused, never run again, while an idle client's next call is served; three hundred fresh client
// ids through a table with room for a hundred leave every node up, each call run exactly once and a
// live client served, and evict the oldest; with the refusal switched off (--test-mutate), the same retry runs twice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, eventually, sleep } from '../../tools/harness/node-process.js';
import { type ProbeResult, callReplica, describeProbe } from '../../tools/harness/client-probe.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { StatusReader } from '../../tools/harness/status.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { DeadlineExceededError } from '../../src/client/errors.js';
import { silentLogger } from '../../src/env/logger.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import type { Json } from '../../src/rsm/app.js';

// The bounds keep the documented rules, only shorter: the eviction age exceeds the live client's
// deadline and the fresh clients' new-client window, which exceeds their deadline; so no client
// loses its entry mid-call, and a fresh client the full table keeps waiting too long is told so
// by its deadline (its call was never run: the table refused every attempt).
const retentionMs = 8000;
const sweepMs = 100;
const evictableAfterMs = 8000;
const liveDeadlineMs = 3000;
const freshWindowMs = 6000;
const freshDeadlineMs = 5000;
const freshClients = 300;
const tableFlags = ['--app', 'test', '--client-retention-ms', `${retentionMs}`, '--client-table-sweep-ms', `${sweepMs}`,
  '--client-evictable-after-ms', `${evictableAfterMs}`, '--max-clients', '100'];

/** Three replicas with the table flags (and `extra`), a status reader, and a raw caller. */
class RealCluster {
  root = '';
  nodes: NodeProcess[] = [];
  cluster = '';
  status: StatusReader | null = null;

  async start(extra: string[] = []): Promise<void> {
    this.root = mkdtempSync(join(tmpdir(), 'synod-table-'));
    const ports = await freePortPairs(3);
    const first = `127.0.0.1:${ports[0]}`;
    this.cluster = defaultClusterName(first);
    this.nodes = ports.map((port, i) => new NodeProcess({ port, first, dataDir: join(this.root, `n${i + 1}`), logLevel: 'info' }));
    for (const n of this.nodes) await n.start([...tableFlags, ...extra]);
    this.status = new StatusReader(this.cluster);
    await eventually(async () => {
      const all = await Promise.all(this.nodes.map((n) => this.status!.status(n.address)));
      return all.every((s) => s.replicaStatus === 'normal' && s.members.length === 3 && s.vid === all[0]!.vid) ? all : undefined;
    }, 15_000, 'three replicas serving', 20);
  }

  async primary(): Promise<string> {
    return (await this.status!.status(this.nodes[0]!.address)).primary!;
  }

  /** One raw call to the primary as client `clientId` with number `seq`, marked as new or not. */
  async raw(clientId: string, seq: number, proc: string, args: Json, first: boolean): Promise<ProbeResult> {
    return callReplica({ cluster: this.cluster, node: await this.primary(), proc, args, clientId, seq, first, deadlineMs: 5000 });
  }

  async close(): Promise<void> {
    await this.status?.close();
    for (const n of this.nodes) {
      n.closeClient();
      await n.kill('SIGKILL');
    }
    if (this.root !== '') rmSync(this.root, { recursive: true, force: true });
  }
}

const outcomeOf = (r: ProbeResult): string => {
  if (r.kind !== 'answer' || r.answer.kind !== 'executed') return describeProbe(r);
  return r.answer.outcome.ok ? `ok ${JSON.stringify(r.answer.outcome.value)}` : r.answer.outcome.code;
};

describe('the bounded client table on three real replica processes', () => {
  const c = new RealCluster();
  let transport: GrpcClientTransport;

  before(async () => {
    await c.start();
    transport = new GrpcClientTransport({ cluster: c.cluster, logger: silentLogger });
  });

  after(async () => {
    await transport?.close();
    await c.close();
  });

  test('a retry of a call whose client\'s entry expired is refused, never run again; an idle client\'s next call is served', async () => {
    assert.equal(outcomeOf(await c.raw('raw-1', 7, 'append', { item: 'once' }, true)), 'ok 0');
    const idle = new RsmClient({ members: c.nodes.map((n) => n.address), transport, clock: realClock, clientId: 'idle' });
    try {
      assert.equal(await idle.invoke('append', { item: 'idle-1' }, { deadlineMs: 10_000 }), 1);
      await sleep(retentionMs + 10 * sweepMs);
      assert.equal(outcomeOf(await c.raw('raw-1', 7, 'append', { item: 'once' }, false)), 'client-expired', 'the retry is refused');
      assert.equal(outcomeOf(await c.raw('raw-1', 7, 'append', { item: 'once' }, true)), 'client-expired', 'and every copy of it, marked or not');
      assert.equal(await idle.invoke('append', { item: 'idle-2' }, { deadlineMs: 10_000 }), 2, 'the idle client is served, without an error');
      const list = (await idle.invoke('list', null, { deadlineMs: 10_000 })) as string[];
      assert.deepEqual(list, ['once', 'idle-1', 'idle-2']);
    } finally {
      idle.close();
    }
  });

  test(`${freshClients} fresh client ids through a table with room for 100: every node stays up, none runs twice, a live client is served throughout, the oldest are evicted`, async () => {
    const live = new RsmClient({ members: c.nodes.map((n) => n.address), transport, clock: realClock, clientId: 'live' });
    const primary = await c.primary();
    let liveCalls = 0;
    const liveErrors: string[] = [];
    let liveTimedOut = 0;
    let flooding = true;
    const liveLoop = (async () => {
      while (flooding) {
        try {
          await live.invoke('add', { key: 'live', by: 1 }, { deadlineMs: liveDeadlineMs });
          liveCalls++;
        } catch (err) {
          // A deadline is the machine's load (a view change may come with it), not the table's doing.
          if (err instanceof DeadlineExceededError) liveTimedOut++;
          else liveErrors.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
        }
        await sleep(50);
      }
    })();
    let next = 0;
    const failures: string[] = [];
    let served = 0;
    let timedOut = 0;
    await Promise.all(Array.from({ length: 20 }, async () => {
      for (let i = next++; i < freshClients; i = next++) {
        const one = new RsmClient({ members: [primary], transport, clock: realClock, clientId: `fresh-${i}`, options: { newClientWindowMs: freshWindowMs } });
        try {
          await one.invoke('add', { key: 'fresh', by: 1 }, { deadlineMs: freshDeadlineMs });
          served++;
        } catch (err) {
          if (err instanceof DeadlineExceededError) timedOut++;
          else failures.push(`fresh-${i}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
        } finally {
          one.close();
        }
      }
    }));
    flooding = false;
    await liveLoop;
    live.close();
    assert.deepEqual(failures, [], 'a fresh client is served, or kept waiting (busy) until its deadline; no other error');
    assert.ok(served >= freshClients / 2, `most fresh clients were served (${served}, ${timedOut} timed out waiting for room)`);
    assert.deepEqual(liveErrors, [], 'the live client was served throughout: never told its entry went');
    assert.ok(liveCalls > 5 * liveTimedOut, `the live client was served (${liveCalls} calls, ${liveTimedOut} past their deadline)`);
    const all = await Promise.all(c.nodes.map((n) => c.status!.status(n.address)));
    assert.ok(all.every((s) => s.replicaStatus === 'normal'), 'every node up and serving');
    assert.ok(c.nodes.every((n) => n.running));
    // A call that timed out may have run (its last attempt may have found room); none ran twice.
    const ran = Number(outcomeOf(await c.raw('reader-2', 1, 'get', { key: 'fresh' }, true)).replace(/^ok /, ''));
    assert.ok(ran >= served && ran <= served + timedOut, `fresh calls run: ${ran}; served ${served}, timed out ${timedOut}`);
    assert.equal(outcomeOf(await c.raw('fresh-0', Number.MAX_SAFE_INTEGER, 'add', { key: 'fresh', by: 1 }, false)), 'client-expired', 'the first fresh id was evicted');
  });
});

describe('with the refusal of expired clients switched off on real processes', () => {
  const c = new RealCluster();
  before(async () => c.start(['--test-mutate', 'no-expired-refusal']));
  after(async () => c.close());

  test('a retry of a call whose client\'s entry expired runs a second time: the check of the test above catches it', async () => {
    assert.equal(outcomeOf(await c.raw('raw-1', 7, 'append', { item: 'once' }, true)), 'ok 0');
    await sleep(retentionMs + 10 * sweepMs);
    // The table's clock moves only by sweeps, each a replicated (fsynced) request: on a loaded
    // machine it may lag real time a while. Until the entry expires the retry is answered from it.
    let outcome = outcomeOf(await c.raw('raw-1', 7, 'append', { item: 'once' }, false));
    for (const until = Date.now() + 2 * retentionMs; outcome === 'ok 0' && Date.now() < until; await sleep(sweepMs)) {
      outcome = outcomeOf(await c.raw('raw-1', 7, 'append', { item: 'once' }, false));
    }
    assert.equal(outcome, 'ok 1', 'the mutation runs the retry again');
    assert.deepEqual(outcomeOf(await c.raw('reader', 1, 'list', null, true)), 'ok ["once","once"]');
  });
});
