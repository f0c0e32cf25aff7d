// Leases: grant, attach, detach, keepalive, revoke and expiry (keys deleted in one revision), and expiry only from a node.
import { kvLeaseSpec } from '../../../src/apps/kv/kv-lease-spec.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kvApp, kvLimits } from '../../../src/apps/kv/kv-app.js';
import { call, node, refused, watch } from './kv-support.js';

test('a lease is granted with a picked or a chosen id; a TTL below the minimum is raised to it, as etcd', () => {
  const s = kvApp.initialState();
  assert.deepEqual(call(s, 'leaseGrant', { ttl: 10 }), { id: 1, ttl: 10 });
  assert.deepEqual(call(s, 'leaseGrant', { ttl: 10, id: 2 }), { id: 2, ttl: 10 });
  assert.deepEqual(call(s, 'leaseGrant', { ttl: 1 }), { id: 3, ttl: kvLimits.minLeaseTtlSeconds }, 'the counter skips the chosen id 2');
  refused(s, 'leaseGrant', { ttl: 10, id: 2 }, 'lease-exists');
  refused(s, 'leaseGrant', { ttl: 0 }, 'bad-request');
  refused(s, 'leaseGrant', { ttl: kvLimits.maxLeaseTtlSeconds + 1 }, 'bad-request');
  refused(s, 'leaseGrant', { ttl: '10' }, 'bad-request');
  assert.deepEqual(call(s, 'leases', null), { leases: [{ id: 1, ttl: 10 }, { id: 2, ttl: 10 }, { id: 3, ttl: 2 }] });
  assert.deepEqual(call(s, 'status', null), { revision: 1, compactRevision: 0, keys: 0, historyRevisions: 0, historyBytes: 0, storeBytes: 0, leases: 3 }, 'grants make no revision');
});

test('keys attach to a lease by put, move off it by a put without one, and a revoke deletes the rest in one revision', () => {
  const s = kvApp.initialState();
  const { id } = call(s, 'leaseGrant', { ttl: 30 }) as { id: number };
  call(s, 'put', { key: 'e/2', value: 'b', lease: id }); // 2
  call(s, 'put', { key: 'e/1', value: 'a', lease: id }); // 3
  call(s, 'put', { key: 'e/3', value: 'c', lease: id }); // 4
  call(s, 'put', { key: 'e/3', value: 'c' }); // 5: detached
  assert.deepEqual(call(s, 'leaseTimeToLive', { id, keys: true }), { id, grantedTtl: 30, renewals: 0, keys: ['e/1', 'e/2'] });
  assert.deepEqual(call(s, 'leaseKeepAlive', { id }), { id, ttl: 30 });
  assert.deepEqual(call(s, 'leaseTimeToLive', { id }), { id, grantedTtl: 30, renewals: 1 });
  assert.deepEqual(call(s, 'leaseRevoke', { id }), { deleted: 2, revision: 6 });
  assert.deepEqual((call(s, 'range', { key: 'e/', prefix: true }) as { kvs: { key: string }[] }).kvs.map((kv) => kv.key), ['e/3']);
  const read = watch(s, 5, { key: 'e/', prefix: true });
  assert.deepEqual(read, { kind: 'events', through: 6, events: [{ position: 6, event: { revision: 6, events: [
    { type: 'delete', kv: { key: 'e/1', modRevision: 6 } }, { type: 'delete', kv: { key: 'e/2', modRevision: 6 } },
  ] } }] }, 'one atomic event set, in key order');
  refused(s, 'leaseRevoke', { id }, 'lease-not-found');
  refused(s, 'leaseKeepAlive', { id }, 'lease-not-found');
  refused(s, 'leaseTimeToLive', { id }, 'lease-not-found');
  refused(s, 'put', { key: 'x', value: '1', lease: id }, 'lease-not-found');
});

test('an expiry decided for one grant of an id does not end a later grant of the same id (revoked and granted again)', () => {
  const s = kvApp.initialState();
  assert.deepEqual(call(s, 'leaseGrant', { ttl: 5, id: 7 }), { id: 7, ttl: 5 });
  const [first] = kvLeaseSpec.leases(s);
  call(s, 'leaseRevoke', { id: 7 });
  call(s, 'leaseGrant', { ttl: 5, id: 7 });
  call(s, 'put', { key: 'k', value: 'v', lease: 7 });
  const [second] = kvLeaseSpec.leases(s);
  assert.equal(first!.renewals, second!.renewals, 'both grants have had no keepalive');
  assert.notEqual(first!.grant, second!.grant);
  const stale = kvLeaseSpec.expire(first!);
  assert.deepEqual(call(s, stale.proc, stale.args, node), { expired: false }, 'the first grant is gone; the second is another lease');
  assert.equal((call(s, 'get', { key: 'k' }) as { count: number }).count, 1);
  const due = kvLeaseSpec.expire(second!);
  assert.deepEqual(call(s, due.proc, due.args, node), { expired: true, deleted: 1, revision: 3 });
  refused(s, 'leaseExpire', { id: 7, grant: 1.5 }, 'bad-request', node);
});

test('leaseExpire is refused from a client; from a node it deletes the keys, unless a keepalive ran since the count it names', () => {
  const s = kvApp.initialState();
  call(s, 'leaseGrant', { ttl: 5, id: 7 });
  call(s, 'put', { key: 'k', value: 'v', lease: 7 }); // 2
  refused(s, 'leaseExpire', { id: 7 }, 'internal-only');
  call(s, 'leaseKeepAlive', { id: 7 });
  assert.deepEqual(call(s, 'leaseExpire', { id: 7, renewals: 0 }, node), { expired: false }, 'renewed since the keeper looked');
  assert.deepEqual(call(s, 'leaseExpire', { id: 7, renewals: 1 }, node), { expired: true, deleted: 1, revision: 3 });
  assert.deepEqual(call(s, 'leaseExpire', { id: 7 }, node), { expired: false }, 'gone already: not an error');
  assert.deepEqual(call(s, 'get', { key: 'k' }), { kvs: [], count: 0, more: false, revision: 3 });
  refused(s, 'leaseExpire', { id: 7, renewals: 'x' }, 'bad-request', node);
});

test('a lease without keys ends without a revision', () => {
  const s = kvApp.initialState();
  call(s, 'leaseGrant', { ttl: 5, id: 1 });
  call(s, 'leaseGrant', { ttl: 5, id: 2 });
  assert.deepEqual(call(s, 'leaseRevoke', { id: 1 }), { deleted: 0, revision: 1 });
  assert.deepEqual(call(s, 'leaseExpire', { id: 2 }, node), { expired: true, deleted: 0, revision: 1 });
  assert.deepEqual(call(s, 'leases', null), { leases: [] });
});
