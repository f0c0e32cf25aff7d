// The KV store on the simulator under every fault: clients put, read, range, delete, swap by
// compare, grant, keep alive, revoke and let expire leases, and compact; watchers follow the
// `watch` feed by key and by prefix; the history (with the nodes' lease expiries) must linearize
// in kvModel, every watcher's events must be the committed revision history's, and no lease may
// expire before its TTL, nor outlive it once the cluster is quiet. Caught: leases expired by each
// replica's own clock, a watch that skips an event on resume, a lease keeper whose clock ignores
// keepalives, and nodes without a lease keeper.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvSimulation } from '../../tools/sim/kv-run.js';

test('the KV store under every fault: seeds 1-20 pass every checker, and the runs really watched, expired and compacted (by clients and by the store)', () => {
  const sum = new Map<string, number>();
  for (let seed = 1; seed <= 20; seed++) {
    const r = runKvSimulation({ seed });
    assert.ok(r.ok, `seed ${seed}: ${r.failures.join('\n')}`);
    for (const k of ['operations', 'watchedEvents', 'resumptions', 'compacted', 'compactions', 'expiriesChecked', 'leaseEndsChecked', 'internal:leaseExpire', 'referenceCrossChecked', 'smallHistory']) {
      sum.set(k, (sum.get(k) ?? 0) + (r.stats[k] ?? 0));
    }
  }
  console.log([...sum].map(([k, v]) => `${k}=${v}`).join(' '));
  const n = (k: string): number => sum.get(k) ?? 0;
  assert.ok(n('operations') > 1000 && n('watchedEvents') > 1000 && n('resumptions') > 100, 'clients called and watchers watched across failovers');
  assert.ok(n('compactions') > 10 && n('compacted') > 5, 'clients compacted and watchers started over after it');
  assert.ok(n('smallHistory') >= 3, 'some runs had the store compact its history by itself');
  assert.ok(n('expiriesChecked') > 40 && n('leaseEndsChecked') > n('expiriesChecked'), 'the keeper expired leases, and clients revoked some');
});

test('expire-on-replica-clock (every replica expires leases by its own clock) is caught at seed 2 by the history check, and seed 2 passes without it', () => {
  const bad = runKvSimulation({ seed: 2, expireOnReplicaClock: true });
  assert.ok(bad.failures.some((f) => /linearizability: the client history/.test(f)), bad.failures.join('\n'));
  console.log(bad.failures.find((f) => f.includes('linearizability:'))?.slice(0, 300));
  const clean = runKvSimulation({ seed: 2 });
  assert.ok(clean.ok, clean.failures.join('\n'));
});

test('skip-feed-event-on-resume (a resumed watch starts one revision late) is caught at seed 1 as a gap', () => {
  const bad = runKvSimulation({ seed: 1, mutations: { skipFeedEventOnResume: true } });
  assert.ok(bad.failures.some((f) => /feed: watcher .* never got position/.test(f)), bad.failures.join('\n'));
  console.log(bad.failures.find((f) => f.includes('feed:')));
});

test('lease-clock-ignores-renewals (the keeper expires a kept lease its TTL after it first saw it) is caught by the lease checker at seed 1', () => {
  const bad = runKvSimulation({ seed: 1, mutations: { leaseClockIgnoresRenewals: true } });
  assert.ok(bad.failures.some((f) => /kv leases: lease \d+ .* earlier than its TTL allows/.test(f)), bad.failures.join('\n'));
  console.log(bad.failures.find((f) => f.includes('kv leases:')));
});

test('without a lease keeper on the nodes, the leases left alive once the cluster is quiet are caught at seed 1', () => {
  const bad = runKvSimulation({ seed: 1, noLeaseKeeper: true });
  assert.ok(bad.failures.some((f) => /kv leases: liveness: lease \d+ .* is alive/.test(f)), bad.failures.join('\n'));
  console.log(bad.failures.find((f) => f.includes('kv leases:')));
});
