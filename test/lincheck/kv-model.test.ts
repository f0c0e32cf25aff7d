// The checker with the KV store's model: histories made by the real app pass (sequential and
// overlapping), and hand-made wrong ones fail: a stale read, a lost put, a wrong modRevision, a key
// still there after its lease expired. SEED=<n> replays the random one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLinearizable } from '../../tools/lincheck/check.js';
import { type KvInput, type KvOutput, kvModel } from '../../tools/lincheck/kv-model.js';
import { kvCalls, kvInternalCalls } from '../../tools/lincheck/kv-mappings.js';
import { notExecuted } from '../../tools/lincheck/recorder.js';
import { Prng } from '../../tools/sim/prng.js';
import { AppError, type Json, appProcedure } from '../../src/rsm/app.js';
import { kvApp } from '../../src/apps/kv/kv-app.js';
import type { KvState } from '../../src/apps/kv/kv-state.js';
import { HistoryBuilder, testSeed } from './support.js';

/** Runs a call on the real app and records it through the mappings, as a recorder would. */
function record(h: HistoryBuilder<KvInput, KvOutput>, s: KvState, client: string, proc: string, args: Json, call: number, ret: number): void {
  const internal = proc === 'leaseExpire';
  let value: Json;
  try {
    value = appProcedure(kvApp, proc)!(s, JSON.parse(JSON.stringify(args)) as Json, { clientId: client, internal });
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    const input = kvCalls.input(proc, args, client);
    const out = input === null ? null : kvCalls.appError(input, err.code);
    if (input !== null && out !== notExecuted && out !== null) h.done(client, input, out, call, ret);
    return;
  }
  value = JSON.parse(JSON.stringify(value)) as Json;
  if (internal) {
    for (const op of kvInternalCalls.operations(proc, args, value)) h.done(client, op.input, op.output, call, ret);
    return;
  }
  const input = kvCalls.input(proc, args, client);
  if (input !== null) h.done(client, input, kvCalls.value(input, value), call, ret);
}

function randomCall(rng: Prng): { proc: string; args: Json } {
  const key = rng.pick(['a', 'a/1', 'a/2', 'b', 'constructor']);
  switch (rng.int(11)) {
    case 0: case 1: return { proc: 'put', args: { key, value: String(rng.int(5)), prevKv: rng.chance(0.3) } };
    case 2: return { proc: 'put', args: { key, value: 'l', lease: rng.between(1, 3) } };
    case 3: return { proc: 'delete', args: { key, prefix: rng.chance(0.3) } };
    case 4: return { proc: 'get', args: { key } };
    case 5: return { proc: 'range', args: { key: 'a', prefix: true, revision: rng.int(12), limit: rng.int(3) } };
    case 6: return { proc: 'txn', args: { compare: [{ key, target: rng.pick(['version', 'modRevision']), op: rng.pick(['=', '<', '>']), value: rng.int(6) }], success: [{ put: { key, value: 't' } }], failure: [{ range: { key: 'a', prefix: true } }, { delete: { key: 'b' } }] } };
    case 7: return { proc: 'compact', args: { revision: rng.between(1, 12) } };
    case 8: return rng.chance(0.5) ? { proc: 'leaseGrant', args: { ttl: 5 } } : { proc: 'leaseKeepAlive', args: { id: rng.between(1, 3) } };
    case 9: return { proc: 'leaseRevoke', args: { id: rng.between(1, 3) } };
    default: return { proc: 'leaseExpire', args: { id: rng.between(1, 3), ...(rng.chance(0.5) ? { renewals: rng.int(2) } : {}) } };
  }
}

test('histories made by the real app pass: one at a time, and with every call overlapping its neighbours', () => {
  const seed = testSeed('kv model');
  for (const overlap of [0, 3]) {
    const rng = new Prng(seed);
    const s = kvApp.initialState();
    const h = new HistoryBuilder<KvInput, KvOutput>();
    for (let i = 0; i < 150; i++) {
      const { proc, args } = randomCall(rng);
      // Executed in order i; its interval [i, i + 0.5 + overlap] overlaps the next `overlap` calls.
      record(h, s, `c${i % 4}`, proc, args, i, i + 0.5 + overlap);
    }
    // Every client runs one call at a time: with overlap, give each op its own client.
    const ops = overlap === 0 ? h.history : h.history.map((op, i) => ({ ...op, client: `c${i}` }));
    const r = checkLinearizable(ops, kvModel, { timeBudgetMs: 20_000 });
    assert.equal(r.verdict, 'ok', `SEED=${seed} overlap ${overlap}: ${r.verdict === 'violation' ? r.explanation : JSON.stringify(r)}`);
    assert.ok(h.history.length > 100);
  }
});

test('a txn range after a put or delete in the same branch sees them, as the app answers (found by the KV nemesis)', () => {
  const s = kvApp.initialState();
  const h = new HistoryBuilder<KvInput, KvOutput>();
  record(h, s, 'c1', 'put', { key: 'a/2', value: '0' }, 0, 0.5);
  record(h, s, 'c1', 'txn', { compare: [{ key: 'a/1', target: 'version', op: '<', value: 2 }], success: [{ put: { key: 'a/1', value: 't' } }, { delete: { key: 'a/2' } }, { range: { key: 'a/', prefix: true } }] }, 1, 1.5);
  record(h, s, 'c1', 'range', { key: 'a/', prefix: true }, 2, 2.5);
  const txn = h.history[1]!.output as { responses: { range?: { kvs: { key: string }[] } }[] };
  assert.deepEqual(txn.responses[2]!.range!.kvs.map((kv) => kv.key), ['a/1'], 'the app: the branch\'s own put and delete are seen');
  const r = checkLinearizable(h.history, kvModel);
  assert.equal(r.verdict, 'ok', r.verdict === 'violation' ? r.explanation : JSON.stringify(r));
});

/** A hand-made history: each call at its own time unless said otherwise. */
class Kv {
  readonly h = new HistoryBuilder<KvInput, KvOutput>();
  t = 0;
  op(input: KvInput, output: KvOutput | '?', client = 'c1', call = this.t++, ret = call + 0.5): void {
    if (output === '?') this.h.unknown(client, input, call);
    else this.h.done(client, input, output, call, ret);
  }
  verdict(): string {
    return checkLinearizable(this.h.history, kvModel).verdict;
  }
}
const rec = (key: string, value: string, createRevision: number, modRevision: number, version: number, lease = 0): Json => ({ key, value, createRevision, modRevision, version, lease });
const got = (revision: number, ...kvs: Json[]): Json => ({ kvs, count: kvs.length, more: false, revision });

test('a read after a completed put that still shows the old value is a violation (stale read)', () => {
  const k = new Kv();
  k.op({ proc: 'put', key: 'a', value: '1' }, { revision: 2 });
  k.op({ proc: 'put', key: 'a', value: '2' }, { revision: 3 });
  k.op({ proc: 'get', key: 'a' }, got(3, rec('a', '2', 2, 3, 2)));
  assert.equal(k.verdict(), 'ok');
  k.op({ proc: 'get', key: 'a' }, got(2, rec('a', '1', 2, 2, 1)), 'c2');
  assert.equal(k.verdict(), 'violation');
});

test('an acknowledged put that a later read does not see is a violation (lost put); an unknown one may go either way', () => {
  const lost = new Kv();
  lost.op({ proc: 'put', key: 'a', value: '1' }, { revision: 2 });
  lost.op({ proc: 'get', key: 'a' }, got(1), 'c2');
  assert.equal(lost.verdict(), 'violation');
  for (const seen of [true, false]) {
    const unknown = new Kv();
    unknown.op({ proc: 'put', key: 'a', value: '1' }, '?');
    unknown.op({ proc: 'get', key: 'a' }, seen ? got(2, rec('a', '1', 2, 2, 1)) : got(1), 'c2');
    assert.equal(unknown.verdict(), 'ok', `seen: ${seen}`);
  }
});

test('a wrong modRevision, version or reply revision is a violation', () => {
  for (const wrong of [rec('a', '1', 2, 3, 1), rec('a', '1', 2, 2, 2), rec('a', '1', 1, 2, 1)]) {
    const k = new Kv();
    k.op({ proc: 'put', key: 'a', value: '1' }, { revision: 2 });
    k.op({ proc: 'get', key: 'a' }, got(2, wrong));
    assert.equal(k.verdict(), 'violation', JSON.stringify(wrong));
  }
  const k = new Kv();
  k.op({ proc: 'put', key: 'a', value: '1' }, { revision: 3 });
  assert.equal(k.verdict(), 'violation', 'the first put makes revision 2');
});

test('a key still there after its lease expired is a violation; a read that overlaps the expiry may see either', () => {
  const build = (read: Json, overlapping: boolean): string => {
    const k = new Kv();
    k.op({ proc: 'leaseGrant', ttl: 5 }, { id: 1, ttl: 5 });
    k.op({ proc: 'put', key: 'e', value: 'x', lease: 1 }, { revision: 2 });
    k.op({ proc: 'leaseExpire', id: 1, renewals: 0 }, { expired: true, deleted: 1, revision: 3 }, 'node', 10, 20);
    k.op({ proc: 'get', key: 'e' }, read, 'c2', overlapping ? 15 : 21, overlapping ? 16 : 22);
    return k.verdict();
  };
  const there = got(2, rec('e', 'x', 2, 2, 1, 1));
  assert.equal(build(there, false), 'violation');
  assert.equal(build(got(3), false), 'ok');
  assert.equal(build(there, true), 'ok');
  // A keepalive that ran first keeps the lease: the expiry naming the old count expires nothing.
  const k = new Kv();
  k.op({ proc: 'leaseGrant', ttl: 5 }, { id: 1, ttl: 5 });
  k.op({ proc: 'leaseKeepAlive', id: 1 }, { id: 1, ttl: 5 });
  k.op({ proc: 'leaseExpire', id: 1, renewals: 0 }, { expired: true, deleted: 0, revision: 1 }, 'node');
  assert.equal(k.verdict(), 'violation');
});

test('two overlapping puts may take their revisions in either order; apart, only in real-time order', () => {
  for (const apart of [false, true]) {
    const k = new Kv();
    k.op({ proc: 'put', key: 'a', value: 'first' }, { revision: 3 }, 'c1', 0, apart ? 1 : 5);
    k.op({ proc: 'put', key: 'b', value: 'second' }, { revision: 2 }, 'c2', apart ? 2 : 1, apart ? 3 : 6);
    assert.equal(k.verdict(), apart ? 'violation' : 'ok');
  }
});
