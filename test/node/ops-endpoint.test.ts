// Proves the ops endpoint on three real node processes (`synod node --metrics-address`): /metrics is
// valid Prometheus text (checked by a strict parser written here) and its counters move under load
// on the primary and the backups; /healthz answers; grpc.health.v1 answers SERVING through a real
// gRPC client on the node's own port; and when the primary is killed, a survivor's /readyz and its
// health Watch stream go not-ready during the view change and ready again after it. And a member
// that does not answer (stopped with SIGSTOP, kept in the view by a long failure detector) is shown
// unreachable in /status.json, with the reason, while the others are shown as they are.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { OpsCluster } from '../../tools/harness/ops-cluster.js';
import { eventually, sleep } from '../../tools/harness/node-process.js';
import { connect } from '../../src/client/connect.js';

/** One sample line of the text format: name, labels, value. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelPair = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|(?=\}))/;

/**
 * A strict parser of the Prometheus text exposition format (0.0.4): every line is a HELP or TYPE
 * comment, or a sample `name{labels} value`; names and label names must be valid, label values
 * quoted and escaped (empty lines are allowed, as the format says), values numbers (or ±Inf, NaN); a TYPE comes at most once per family and
 * before its samples; histogram families have ascending `le` buckets ending in +Inf, with _sum and
 * _count, the +Inf bucket equal to _count. Throws naming the line on anything else.
 */
function parsePrometheus(text: string): Sample[] {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const lines = text.split('\n').slice(0, -1);
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      assert.ok(m !== null, `bad comment, ${where}`);
      assert.match(m[2]!, metricName, where);
      if (m[1] === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!), `unknown type, ${where}`);
        assert.ok(!types.has(m[2]!), `a second TYPE, ${where}`);
        assert.ok(!samples.some((s) => familyOf(s.name, types) === m[2]), `TYPE after samples, ${where}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    if (line.length === 0) continue; // the format ignores empty lines (prom-client puts one between families)
    const nameEnd = line.search(/[{ ]/);
    assert.ok(nameEnd > 0, where);
    const name = line.slice(0, nameEnd);
    assert.match(name, metricName, where);
    let rest = line.slice(nameEnd);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const m = labelPair.exec(rest);
        assert.ok(m !== null, `bad label, ${where}`);
        assert.ok(!(m[1]! in labels), `label twice, ${where}`);
        labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        rest = rest.slice(m[0].length);
        if (m[3] === '') assert.ok(rest.startsWith('}'), `label list not closed, ${where}`);
      }
      rest = rest.slice(1);
    }
    const m = /^ (\S+)( -?\d+)?$/.exec(rest);
    assert.ok(m !== null, `bad value part, ${where}`);
    // Values are what Prometheus's parser (Go's ParseFloat) takes: decimals, and Inf and NaN in any case (prom-client writes `Nan`).
    const raw = m[1]!;
    const nan = /^nan$/i.test(raw);
    const value = /^\+?inf$/i.test(raw) ? Infinity : /^-inf$/i.test(raw) ? -Infinity : nan ? NaN : Number(raw);
    assert.ok(nan || !Number.isNaN(value), `not a number, ${where}`);
    assert.ok(nan || /^[-+]?(\d+\.?\d*(e[-+]?\d+)?|\.\d+|inf)$/i.test(raw), `malformed number, ${where}`);
    samples.push({ name, labels, value });
  }
  checkHistograms(samples, types);
  return samples;
}

function familyOf(name: string, types: ReadonlyMap<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && types.get(base) === 'histogram') return base;
  }
  return name;
}

function checkHistograms(samples: readonly Sample[], types: ReadonlyMap<string, string>): void {
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, { les: number[]; counts: number[]; count?: number; sum?: number }>();
    for (const s of samples) {
      if (familyOf(s.name, types) !== family) continue;
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      const entry = series.get(key) ?? { les: [], counts: [] };
      series.set(key, entry);
      if (s.name.endsWith('_bucket')) {
        assert.ok(le !== undefined, `${family}: a bucket without le`);
        entry.les.push(le === '+Inf' ? Infinity : Number(le));
        entry.counts.push(s.value);
      } else if (s.name.endsWith('_count')) entry.count = s.value;
      else if (s.name.endsWith('_sum')) entry.sum = s.value;
    }
    for (const [key, e] of series) {
      assert.ok(e.les.length > 0 && e.les.at(-1) === Infinity, `${family}${key}: buckets end in +Inf`);
      for (let i = 1; i < e.les.length; i++) {
        assert.ok(e.les[i]! > e.les[i - 1]!, `${family}${key}: le ascending`);
        assert.ok(e.counts[i]! >= e.counts[i - 1]!, `${family}${key}: buckets cumulative`);
      }
      assert.equal(e.counts.at(-1), e.count, `${family}${key}: +Inf bucket equals _count`);
      assert.ok(e.sum !== undefined, `${family}${key}: has _sum`);
    }
  }
}

/** The sum of every sample named `name` whose labels include `labels`. */
function total(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

type HealthClient = grpc.Client & {
  check(req: { service: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

function healthClient(address: string): HealthClient {
  // grpc-health-check exports the proto-loader definition; grpc-js builds a client from it as it is.
  const Client = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, "Health");
  return new Client(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
}

function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) => client.check({ service }, { deadline: Date.now() + 3000 }, (err, res) =>
    err !== null ? reject(err) : resolve(res!.status)));
}

const snapshotEveryRequests = 20;

describe('ops endpoint on real processes', { timeout: 120_000 }, () => {
  let c: OpsCluster;
  before(async () => {
    // Looks every 10 ms: a survivor's short syncing window in the view change is seen by /readyz and Watch.
    // A snapshot every 20 requests: the load below makes every replica write some.
    c = await OpsCluster.start({ observe: { readinessPollMs: 10 }, rsm: { snapshotEveryRequests: snapshotEveryRequests } });
  });
  after(async () => c?.close());

  test('metrics parse as Prometheus text and their counters move under load', async () => {
    const [s] = await c.settled(3, 10_000);
    const primary = s!.primary!;
    const backup = s!.members.find((m) => m !== primary)!;
    const before = { p: parsePrometheus((await c.get(primary, '/metrics')).body), b: parsePrometheus((await c.get(backup, '/metrics')).body) };
    const client = await connect({ members: c.nodes.map((n) => n.address) });
    const calls = 60;
    try {
      for (let i = 0; i < calls; i++) await client.invoke('append', { item: `x${i}` });
      await assert.rejects(client.invoke('add', { key: 'k', by: 'not a number' }));
    } finally {
      await client.close();
    }
    const res = await c.get(primary, '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/plain; version=0\.0\.4/);
    const p = parsePrometheus(res.body);
    const b = parsePrometheus((await c.get(backup, '/metrics')).body);
    const moved = (after: Sample[], was: Sample[], name: string, labels?: Record<string, string>): number => total(after, name, labels) - total(was, name, labels);
    assert.ok(moved(p, before.p, 'synod_requests_total', { procedure: 'append', outcome: 'ok' }) >= calls, 'ok appends counted at the primary');
    assert.ok(moved(p, before.p, 'synod_requests_total', { procedure: 'add', outcome: 'app-error' }) >= 1, 'the app error counted');
    assert.ok(moved(p, before.p, 'synod_request_duration_seconds_count', { outcome: 'ok' }) >= calls, 'client-path latency observed');
    assert.ok(moved(p, before.p, 'synod_invoke_round_trip_seconds_count') >= 1, 'invoke round trips timed at the primary');
    assert.ok(moved(p, before.p, 'synod_fsync_duration_seconds_count', { log: 'rsm' }) >= 1, 'primary flushes timed');
    assert.ok(moved(b, before.b, 'synod_fsync_duration_seconds_count', { log: 'rsm' }) >= 1, 'backup flushes timed');
    assert.ok(total(p, 'synod_last_executed_seqno') >= calls, 'last executed seqno gauge');
    assert.equal(total(p, 'synod_role', { role: 'primary' }), 1);
    assert.equal(total(b, 'synod_role', { role: 'backup' }), 1);
    assert.equal(total(p, 'synod_ready'), 1);
    assert.equal(total(p, 'synod_view_id'), s!.vid);
    assert.equal(total(p, 'synod_lease_held'), 1, 'the serving primary holds its lease');
    assert.ok(p.some((x) => x.name === 'process_cpu_user_seconds_total'), 'default process metrics');
    assert.ok(total(p, 'synod_view_changes_total') >= 1);
    assert.ok(moved(p, before.p, 'synod_snapshot_size_bytes_count', { store: 'rsm' }) >= 1, 'primary snapshots measured');
    assert.ok(moved(b, before.b, 'synod_snapshot_duration_seconds_count', { store: 'rsm' }) >= 1, 'backup snapshots timed');
    assert.ok(total(p, 'synod_snapshot_size_bytes_sum', { store: 'rsm' }) > 0);
    // The two joiners copied the state when they joined: some backup counted what it received.
    const joined = await Promise.all(s!.members.filter((m) => m !== primary).map(async (m) => parsePrometheus((await c.get(m, '/metrics')).body)));
    assert.ok(joined.some((x) => total(x, 'synod_state_transfer_duration_seconds_count') >= 1), 'a joiner timed its sync');
    assert.ok(joined.some((x) => total(x, 'synod_state_transfer_bytes_total') > 0), 'a joiner counted the state it received');
    assert.equal((await c.get(primary, '/healthz')).status, 200);
    assert.equal((await c.get(primary, '/nope')).status, 404);
  });

  test('grpc.health.v1 answers SERVING for "" and "synod" on every node, NOT_FOUND for another service', async () => {
    for (const n of c.nodes) {
      const client = healthClient(n.address);
      try {
        assert.equal(await check(client, ''), 'SERVING');
        assert.equal(await check(client, 'synod'), 'SERVING');
        await assert.rejects(check(client, 'other'), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND);
      } finally {
        client.close();
      }
    }
  });

  test('when the primary dies, a survivor is not ready during the view change and ready again after it', async () => {
    const [s] = await c.settled(3, 10_000);
    const primary = s!.primary!;
    const survivor = s!.members.find((m) => m !== primary)!;
    assert.equal((await c.get(survivor, '/readyz')).status, 200);
    const client = healthClient(survivor);
    const watched: string[] = [];
    const stream = client.watch({ service: 'synod' });
    stream.on('data', (m: { status: string }) => watched.push(m.status));
    stream.on('error', () => {});
    const seen: Array<{ status: number; body: string }> = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const r = await c.get(survivor, '/readyz').catch(() => null);
        if (r !== null && (seen.length === 0 || seen.at(-1)!.status !== r.status)) seen.push({ status: r.status, body: r.body });
        await sleep(5);
      }
    })();
    try {
      await eventually(async () => (watched.includes('SERVING') ? true : undefined), 5000, 'watch says SERVING first');
      await c.nodes.find((n) => n.address === primary)!.kill('SIGKILL');
      await c.settled(2, 30_000);
      await eventually(async () => (seen.length >= 3 && seen.at(-1)!.status === 200 ? true : undefined), 10_000, '/readyz back to 200');
      await eventually(async () => (watched.at(-1) === 'SERVING' && watched.includes('NOT_SERVING') ? true : undefined), 5000, 'watch back to SERVING');
    } finally {
      polling = false;
      await poller;
      stream.cancel();
      client.close();
    }
    assert.deepEqual(seen.map((x) => x.status).slice(0, 3), [200, 503, 200], `readyz sequence: ${JSON.stringify(seen)}`);
    const notReady = seen[1]!.body;
    assert.match(notReady, /^not ready: .+\n$/, 'a one-line reason');
    assert.deepEqual(watched.filter((x, i) => i === 0 || watched[i - 1] !== x), ['SERVING', 'NOT_SERVING', 'SERVING'], `watch: ${watched.join(' ')}`);
  });
});

describe('status.json with a member that does not answer', { timeout: 60_000 }, () => {
  let c: OpsCluster;
  before(async () => {
    // Suspected only after 100 missed heartbeats (10 s): the stopped member stays in the view meanwhile.
    c = await OpsCluster.start({ config: { suspectAfterMissed: 100 } });
  });
  after(async () => {
    for (const n of c?.nodes ?? []) if (n.paused) n.resume();
    await c?.close();
  });

  test('a stopped member is shown unreachable with the reason; the others with their status', async () => {
    const [s] = await c.settled(3, 10_000);
    const primary = s!.primary!;
    const [viewer, stopped] = s!.members.filter((m) => m !== primary) as [string, string];
    c.nodes.find((n) => n.address === stopped)!.pause();
    type Report = { members: Array<{ node: string; reachable: boolean; role: string | null; error?: string; status?: { vid: number } }> };
    const report = JSON.parse((await c.get(viewer, '/status.json')).body) as Report;
    assert.deepEqual(report.members.map((m) => m.node), [...s!.members], 'in view order');
    const down = report.members.find((m) => m.node === stopped)!;
    assert.equal(down.reachable, false);
    assert.equal(down.role, null);
    assert.match(down.error ?? '', /no answer within 500 ms|timeout/);
    for (const m of report.members.filter((x) => x.node !== stopped)) {
      assert.equal(m.reachable, true, m.node);
      assert.equal(m.role, m.node === primary ? 'primary' : 'backup');
      assert.equal(m.status?.vid, s!.vid);
    }
  });
});
