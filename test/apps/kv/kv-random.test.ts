// Random operations on the KV app against a simple reference (full snapshots per revision), the
// state marshalled and read back midway, and watch reads from random positions compared with the
// reference's history filtered. Replay one run with SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../../tools/sim/prng.js';
import { AppError, type App, type Json } from '../../../src/rsm/app.js';
import { createKvApp } from '../../../src/apps/kv/kv-app.js';
import type { KvState } from '../../../src/apps/kv/kv-state.js';
import { call, node, watch } from './kv-support.js';

interface Rec { key: string; value: string; createRevision: number; modRevision: number; version: number; lease: number }
type Change = { type: 'put'; kv: Rec; prev: Rec | null } | { type: 'delete'; key: string; prev: Rec };

/** The reference: every revision's whole key set, and each revision's changes. */
class Reference {
  rev = 1;
  compact = 0;
  cur = new Map<string, Rec>();
  readonly snaps = new Map<number, Map<string, Rec>>([[1, new Map()]]);
  readonly changes = new Map<number, Change[]>();
  readonly leases = new Map<number, number>();
  nextId = 1;
  #pending: Change[] = [];

  put(key: string, value: string, lease: number): void {
    const prev = this.cur.get(key) ?? null;
    const kv = { key, value, lease, createRevision: prev?.createRevision ?? this.rev + 1, modRevision: this.rev + 1, version: (prev?.version ?? 0) + 1 };
    this.cur.set(key, kv);
    this.#pending.push({ type: 'put', kv, prev });
  }
  del(keys: string[]): number {
    let n = 0;
    for (const key of keys) {
      const prev = this.cur.get(key);
      if (prev === undefined) continue;
      this.cur.delete(key);
      this.#pending.push({ type: 'delete', key, prev });
      n++;
    }
    return n;
  }
  commit(): number {
    if (this.#pending.length > 0) {
      this.rev++;
      this.snaps.set(this.rev, new Map(this.cur));
      this.changes.set(this.rev, this.#pending);
      this.#pending = [];
    }
    return this.rev;
  }
  keysOfLease(id: number): string[] {
    return [...this.cur.values()].filter((kv) => kv.lease === id).map((kv) => kv.key).sort();
  }
}

const keys = ['a', 'a/b', 'a/c', 'ab', 'b', '__proto__', 'constructor', 'toString/x'];
const matches = (key: string, target: string, prefix: boolean): boolean => (prefix ? key.startsWith(target) : key === target);
const sorted = (m: Map<string, Rec>, target: string, prefix: boolean): Rec[] => [...m.values()].filter((kv) => matches(kv.key, target, prefix)).sort((x, y) => (x.key < y.key ? -1 : 1));

function expectRefusal(fn: () => Json, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof AppError && e.code === code, code);
}

/** One run of `ops` random operations; `maxHistoryBytes` small lets the app compact by itself (the reference follows its compaction revision). */
function run(seed: number, ops: number, maxHistoryBytes?: number): void {
  const rng = new Prng(seed);
  const app: App<KvState> = createKvApp(maxHistoryBytes === undefined ? {} : { maxHistoryBytes });
  let s = app.initialState();
  const ref = new Reference();
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const c = (proc: string, args: Json, internal = false) => call(s, proc, args, internal ? node : undefined, app);
  for (let i = 0; i < ops; i++) {
    if (i === Math.floor(ops / 2)) {
      const bytes = app.marshalState(s);
      s = app.unmarshalState(bytes);
      assert.deepEqual(Buffer.from(app.marshalState(s)), Buffer.from(bytes), `seed ${seed}: the round trip changed the bytes`);
    }
    const leaseIds = [...ref.leases.keys()];
    const op = rng.int(10);
    const key = pick(keys);
    if (op <= 2) {
      const lease = rng.chance(0.3) && leaseIds.length > 0 ? pick(leaseIds) : rng.chance(0.05) ? 999 : 0;
      if (lease === 999) { expectRefusal(() => c('put', { key, value: 'x', lease }), 'lease-not-found'); continue; }
      const value = `v${i}`;
      ref.put(key, value, lease);
      assert.deepEqual(c('put', { key, value, lease }), { revision: ref.commit() }, `seed ${seed} op ${i}`);
    } else if (op === 3) {
      const prefix = rng.chance(0.3);
      const deleted = ref.del(sorted(ref.cur, key, prefix).map((kv) => kv.key));
      assert.deepEqual(c('delete', { key, prefix }), { revision: ref.commit(), deleted }, `seed ${seed} op ${i}`);
    } else if (op === 4) {
      const version = rng.chance(0.5) ? ref.cur.get(key)?.version ?? 0 : rng.int(3);
      const succeeded = (ref.cur.get(key)?.version ?? 0) === version;
      const [k1, k2] = [pick(keys), pick(keys)];
      if (succeeded) { ref.put(k1, `t${i}`, 0); if (k2 !== k1) ref.put(k2, `u${i}`, 0); } else ref.del(ref.cur.has(k1) ? [k1] : []);
      const success = [{ put: { key: k1, value: `t${i}` } }, ...(k2 !== k1 ? [{ put: { key: k2, value: `u${i}` } }] : [])];
      const reply = c('txn', { compare: [{ key, target: 'version', op: '=', value: version }], success, failure: [{ delete: { key: k1 } }] }) as { succeeded: boolean; revision: number };
      assert.deepEqual([reply.succeeded, reply.revision], [succeeded, ref.commit()], `seed ${seed} op ${i}`);
    } else if (op === 5) {
      let id = ref.nextId;
      while (ref.leases.has(id)) id++;
      ref.nextId = id + 1;
      ref.leases.set(id, 0);
      assert.deepEqual(c('leaseGrant', { ttl: 60 }), { id, ttl: 60 });
    } else if (op === 6 && leaseIds.length > 0) {
      const id = pick(leaseIds);
      const how = rng.int(3);
      if (how === 0) {
        ref.leases.set(id, ref.leases.get(id)! + 1);
        assert.deepEqual(c('leaseKeepAlive', { id }), { id, ttl: 60 });
        continue;
      }
      const renewals = ref.leases.get(id)!;
      const deleted = ref.del(ref.keysOfLease(id));
      ref.leases.delete(id);
      const revision = ref.commit();
      if (how === 1) assert.deepEqual(c('leaseRevoke', { id }), { deleted, revision });
      else assert.deepEqual(c('leaseExpire', { id, renewals }, true), { expired: true, deleted, revision });
    } else if (op === 7 && rng.chance(0.3) && ref.rev > ref.compact) {
      const revision = ref.compact + 1 + rng.int(ref.rev - ref.compact);
      assert.deepEqual(c('compact', { revision }), { revision: ref.rev, compactRevision: revision });
      ref.compact = revision;
    } else {
      const revision = ref.compact === 0 ? 1 + rng.int(ref.rev) : ref.compact + rng.int(ref.rev - ref.compact + 1);
      const prefix = rng.chance(0.5);
      const target = prefix ? pick(['', 'a', 'a/', 't']) : key;
      const reply = c('range', { key: target, prefix, revision });
      assert.deepEqual(reply, { kvs: sorted(ref.snaps.get(revision)!, target, prefix), count: sorted(ref.snaps.get(revision)!, target, prefix).length, more: false, revision: ref.rev }, `seed ${seed} op ${i}: range at ${revision}`);
    }
    const status = c('status', null) as { revision: number; compactRevision: number; historyBytes: number };
    assert.equal(status.revision, ref.rev);
    assert.ok(status.compactRevision >= ref.compact, 'the compaction revision never goes back');
    if (maxHistoryBytes !== undefined) assert.ok(status.historyBytes <= maxHistoryBytes);
    else assert.equal(status.compactRevision, ref.compact, 'no compaction by itself under the default bound');
    ref.compact = status.compactRevision;
    assert.deepEqual(c('range', { key: '', prefix: true }), { kvs: sorted(ref.cur, '', true), count: ref.cur.size, more: false, revision: ref.rev });
  }
  // Watch reads from random positions with random filters equal the reference's changes filtered.
  for (let w = 0; w < 30; w++) {
    const after = rng.int(ref.rev + 1);
    const prefix = rng.chance(0.5);
    const target = prefix ? pick(['', 'a', 'a/', 'c']) : pick(keys);
    const prevKv = rng.chance(0.5);
    const noPut = rng.chance(0.15);
    const noDelete = !noPut && rng.chance(0.15);
    const maxEvents = 1 + rng.int(20);
    const read = watch(s, after, { key: target, prefix, prevKv, noPut, noDelete }, maxEvents, app);
    if (after < ref.compact) {
      assert.deepEqual(read, { kind: 'compacted', compactedThrough: ref.compact }, `seed ${seed}: watch after ${after}`);
      continue;
    }
    const expected: Json[] = [];
    let through = ref.rev;
    for (let r = after + 1; r <= ref.rev; r++) {
      const events = (ref.changes.get(r) ?? []).filter((ch) => {
        const k = ch.type === 'put' ? ch.kv.key : ch.key;
        return matches(k, target, prefix) && !(ch.type === 'put' ? noPut : noDelete);
      }).map((ch): Json => ch.type === 'put'
        ? { type: 'put', kv: { ...ch.kv }, ...(prevKv && ch.prev !== null ? { prevKv: { ...ch.prev } } : {}) }
        : { type: 'delete', kv: { key: ch.key, modRevision: r }, ...(prevKv ? { prevKv: { ...ch.prev } } : {}) });
      if (events.length === 0) continue;
      expected.push({ position: r, event: { revision: r, events } });
      if (expected.length === maxEvents) { through = r; break; }
    }
    assert.deepEqual(read, { kind: 'events', events: expected, through }, `seed ${seed}: watch after ${after} on ${target}${prefix ? '*' : ''}`);
  }
}

const seeds = process.env['SEED'] !== undefined ? [Number(process.env['SEED'])] : Array.from({ length: 20 }, (_, i) => 1000 + i);

test('random operations agree with the reference: replies, ranges at every revision, watches, across a marshal round trip', () => {
  for (const seed of seeds) {
    console.log(`kv random: seed ${seed}`);
    run(seed, 300);
  }
});

test('the same with a small history bound: the app compacts by itself, within the bound, and reads and watches stay right', () => {
  for (const seed of seeds) {
    console.log(`kv random (history bound 3000 bytes): seed ${seed}`);
    run(seed, 300, 3000);
  }
});
