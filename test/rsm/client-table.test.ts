// The replicated client table: at-most-once execution keyed by (client id, sequence number), with
// a digest of the request so that a reused number carrying another request is refused; idle
// entries expiring by a replicated clock; a bounded count; unknown clients refused unless new.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientTable, type Outcome, type TableLimits, requestDigest } from '../../src/rsm/client-table.js';
import type { Json } from '../../src/rsm/app.js';
import { newRequest } from '../../src/rsm/messages.js';
import { limits } from '../../src/options.js';

const ok = (value: unknown): Outcome => ({ ok: true, value: value as never });
const digestOf = (proc: string, args: Json): string => requestDigest(newRequest('c', 1, proc, args));
const d1 = digestOf('append', { item: 'a' });
const d2 = digestOf('append', { item: 'b' });
const roomy: TableLimits = { retentionMs: 1000, maxClients: 100, evictableAfterMs: 100 };
const table = (limits: Partial<TableLimits> = {}): ClientTable => new ClientTable({ ...roomy, ...limits });
const ids = (t: ClientTable): string[] => [...t.entries()].map(([id]) => id);

test('a new client\'s marked requests are new; a later one is new; a retry is done; one below what the client had answered is stale', () => {
  // Proves the answers of at-most-once execution for a known client.
  const t = table();
  assert.deepEqual(t.check({ clientId: 'c', seq: 5, first: true }, d1), { kind: 'new' });
  t.record({ clientId: 'c', seq: 5, first: true, answeredBelow: 5 }, d1, ok(7));
  assert.deepEqual(t.check({ clientId: 'c', seq: 5, first: false }, d1), { kind: 'done', outcome: ok(7) });
  assert.deepEqual(t.check({ clientId: 'c', seq: 6, first: false }, d2), { kind: 'new' });
  assert.deepEqual(t.check({ clientId: 'c', seq: 4, first: false }, d1), { kind: 'stale' });
});

test('many calls in flight: requests run in any order of their numbers, each once; retries are answered from their own slot', () => {
  // Proves the window: numbers above the floor run once whatever order they execute in, and every retry gets its own outcome.
  const t = table();
  const req = (seq: number, answeredBelow = 1) => ({ clientId: 'c', seq, first: true, answeredBelow });
  for (const seq of [3, 1, 4, 2]) {
    assert.deepEqual(t.check(req(seq), d1), { kind: 'new' }, `number ${seq} runs`);
    t.record(req(seq), d1, ok(seq * 10));
  }
  for (const seq of [1, 2, 3, 4]) assert.deepEqual(t.check(req(seq), d1), { kind: 'done', outcome: ok(seq * 10) }, `a retry of ${seq} gets its own outcome`);
  assert.deepEqual(t.check(req(5), d1, true), { kind: 'new' }, 'the wrong-slot mutation changes nothing for a new number');
  assert.deepEqual(t.check(req(3), d1, true), { kind: 'done', outcome: ok(20) }, 'the wrong-slot mutation answers 3 with 2\'s outcome');
});

test('the floor follows what the client had answered: slots below it are dropped, copies below it are late, numbers beyond the window refused', () => {
  // Proves an entry holds at most limits.maxClientWindow outcomes, and only those its client may still ask for.
  const t = table();
  for (let seq = 1; seq <= 4; seq++) t.record({ clientId: 'c', seq, first: true, answeredBelow: 1 }, d1, ok(seq));
  t.record({ clientId: 'c', seq: 6, first: false, answeredBelow: 3 }, d1, ok(6));
  const e = [...t.entries()][0]?.[1];
  assert.equal(e!.floor, 3);
  assert.deepEqual([...e!.slots.keys()], [3, 4, 6], 'the outcomes of 1 and 2 are gone');
  assert.deepEqual(t.check({ clientId: 'c', seq: 2, first: false }, d1), { kind: 'stale' });
  assert.deepEqual(t.check({ clientId: 'c', seq: 5, first: false }, d1), { kind: 'new' }, 'a number the client still waits for runs');
  assert.deepEqual(t.check({ clientId: 'c', seq: 5, first: false, answeredBelow: 6 }, d1), { kind: 'stale' }, 'a request saying more lifts the floor in its own check');
  assert.deepEqual(t.check({ clientId: 'c', seq: 3 + limits.maxClientWindow, first: false }, d1), { kind: 'window' });
  assert.deepEqual(t.check({ clientId: 'c', seq: 2 + limits.maxClientWindow, first: false }, d1), { kind: 'new' });
  t.record({ clientId: 'c', seq: 2 + limits.maxClientWindow, first: false }, d1, ok(0));
  const after = [...t.entries()][0]?.[1];
  assert.ok(after!.slots.size <= limits.maxClientWindow && [...after!.slots.keys()].every((s) => s >= after!.floor && s < after!.floor + limits.maxClientWindow));
});

test('an unmarked request of a client the table does not know is refused as expired, never new', () => {
  // Proves the table never runs what may be a retry of a call whose entry is gone.
  const t = table();
  assert.deepEqual(t.check({ clientId: 'c', seq: 1, first: false }, d1), { kind: 'expired' });
  assert.deepEqual(t.check({ clientId: 'c', seq: 99, first: false }, d2), { kind: 'expired' });
});

test('a recorded refusal answers every copy of that request the same; the client\'s other unmarked requests are refused until a marked one runs, whose floor makes them late', () => {
  // Proves a refused request can never run later, nor can another call the client sent before it learned it expired.
  const t = table();
  const refused: Outcome = { ok: false, code: 'client-expired', message: 'gone' };
  t.recordRefusal({ clientId: 'c', seq: 5, first: false, answeredBelow: 4 }, d1, refused);
  assert.deepEqual(t.check({ clientId: 'c', seq: 5, first: true }, d1), { kind: 'done', outcome: refused }, 'even marked as new');
  assert.deepEqual(t.check({ clientId: 'c', seq: 6, first: false }, d2), { kind: 'expired' }, 'another call in flight before the client learned');
  t.recordRefusal({ clientId: 'c', seq: 6, first: false }, d2, refused);
  assert.deepEqual(t.check({ clientId: 'c', seq: 9, first: true, answeredBelow: 9 }, d2), { kind: 'new' }, 'the client renumbered above all it sent, marked');
  t.record({ clientId: 'c', seq: 9, first: true, answeredBelow: 9 }, d2, ok(1));
  assert.deepEqual(t.check({ clientId: 'c', seq: 6, first: false }, d2), { kind: 'stale' }, 'an old call is late now, never run');
  assert.deepEqual(t.check({ clientId: 'c', seq: 10, first: false }, d1), { kind: 'new' }, 'the client is known again');
});

test('a reused number that carries another request is a conflict, never answered with the other outcome', () => {
  // Proves a client id reused across client lives cannot get another request's answer.
  const t = table();
  t.record({ clientId: 'c', seq: 5, first: false }, d1, ok(7));
  assert.deepEqual(t.check({ clientId: 'c', seq: 5, first: false }, d2), { kind: 'conflict' });
});

test('digests depend on the procedure and the arguments, and are deterministic', () => {
  // Proves the digest tells requests apart the same way on every replica.
  assert.equal(digestOf('append', { item: 'a' }), d1);
  assert.notEqual(digestOf('append', { item: 'a' }), digestOf('add', { item: 'a' }));
  assert.notEqual(d1, d2);
});

test('the digest is taken from the arguments\' text as received: other text of the same value is another request', () => {
  // Proves digests never serialise the arguments again (a retry carries the text its client wrote once).
  const a = requestDigest({ proc: 'add', argsText: '{"key":"k","by":1}' });
  assert.equal(requestDigest({ proc: 'add', argsText: '{"key":"k","by":1}' }), a);
  assert.notEqual(requestDigest({ proc: 'add', argsText: '{"by":1,"key":"k"}' }), a);
  assert.notEqual(requestDigest({ proc: 'add', argsText: '{"key":"k", "by":1}' }), a);
  // Text no serialiser could write back without overflowing the stack digests in a loop.
  const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
  assert.match(requestDigest({ proc: 'add', argsText: deep }), /^[0-9a-f]{16}$/);
});

test('entries are kept least recently active first: a record or a retry moves its client to the end', () => {
  // Proves the order every replica evicts in, and that state transfer ships.
  const t = table();
  t.record({ clientId: 'a', seq: 1, first: false }, d1, ok(1));
  t.record({ clientId: 'b', seq: 1, first: false }, d1, ok(2));
  t.record({ clientId: 'c', seq: 1, first: false }, d1, ok(3));
  t.record({ clientId: 'a', seq: 2, first: false }, d2, ok(4));
  assert.deepEqual(ids(t), ['b', 'c', 'a']);
  t.touch('b');
  assert.deepEqual(ids(t), ['c', 'a', 'b']);
  assert.equal(t.size, 3);
});

test('the replicated clock starts at the first sweep, which counts earlier entries active then, and never goes back', () => {
  // Proves idleness is measured on the sweeps' stamps only, and a primary with a slower clock cannot rewind it.
  const t = table({ retentionMs: 1000 });
  t.record({ clientId: 'early', seq: 1, first: false }, d1, ok(1));
  assert.equal(t.clockMs, null);
  assert.equal(t.sweep(50_000, t.limits).dropped, 0, 'a first sweep far from zero drops nothing');
  assert.equal([...t.entries()][0]![1].activeMs, 50_000);
  assert.equal(t.sweep(40_000, t.limits).clockMs, 50_000, 'an earlier stamp leaves the clock where it was');
  t.record({ clientId: 'later', seq: 1, first: false }, d1, ok(2));
  assert.equal([...t.entries()][1]![1].activeMs, 50_000);
});

test('a sweep drops exactly the entries idle longer than the retention, by the replicated clock', () => {
  // Proves expiry: idle past retentionMs goes, idle up to it stays.
  const t = table({ retentionMs: 1000 });
  t.sweep(0, t.limits);
  t.record({ clientId: 'old', seq: 1, first: false }, d1, ok(1));
  t.sweep(400, t.limits);
  t.record({ clientId: 'mid', seq: 1, first: false }, d1, ok(2));
  t.sweep(1000, t.limits);
  t.record({ clientId: 'new', seq: 1, first: false }, d1, ok(3));
  const r = t.sweep(1400, t.limits);
  assert.deepEqual({ dropped: r.dropped, clients: r.clients }, { dropped: 1, clients: 2 });
  assert.deepEqual(ids(t), ['mid', 'new']);
  assert.deepEqual(t.check({ clientId: 'old', seq: 2, first: false }, d2), { kind: 'expired' }, 'the dropped client is refused');
  assert.equal(t.sweep(2000, t.limits).dropped, 1, 'mid was idle 1600 ms, new 1000 ms');
  assert.deepEqual(ids(t), ['new']);
});

test('a new client beyond maxClients evicts the least recently active entry once that one is evictable', () => {
  // Proves the count bound, deterministic eviction, and that nobody active within evictableAfterMs is evicted.
  const t = table({ maxClients: 2, evictableAfterMs: 100, retentionMs: 10_000 });
  t.sweep(0, t.limits);
  t.record({ clientId: 'a', seq: 1, first: false }, d1, ok(1));
  t.record({ clientId: 'b', seq: 1, first: false }, d1, ok(2));
  assert.deepEqual(t.check({ clientId: 'c', seq: 1, first: true }, d1), { kind: 'full' }, 'a and b were active just now');
  t.sweep(100, t.limits);
  t.touch('a');
  assert.deepEqual(t.check({ clientId: 'c', seq: 1, first: true }, d1), { kind: 'new' }, 'b has been idle 100 ms');
  t.record({ clientId: 'c', seq: 1, first: false }, d1, ok(3));
  assert.deepEqual(ids(t), ['a', 'c'], 'b, the least recently active, went');
  assert.equal(t.size, 2);
  assert.deepEqual(t.check({ clientId: 'b', seq: 2, first: false }, d2), { kind: 'expired' });
});

test('a node\'s own request is never refused for a full table (a session expiry under a flood of new ids)', () => {
  const t = table({ maxClients: 2, evictableAfterMs: 100, retentionMs: 10_000 });
  t.sweep(0, t.limits);
  t.record({ clientId: 'a', seq: 1, first: false }, d1, ok(1));
  t.record({ clientId: 'b', seq: 1, first: false }, d1, ok(2));
  assert.deepEqual(t.check({ clientId: 'c', seq: 1, first: true }, d1), { kind: 'full' });
  assert.deepEqual(t.check({ clientId: 'synod:sessions@n1', seq: 1, first: true }, d1), { kind: 'new' });
  t.record({ clientId: 'synod:sessions@n1', seq: 1, first: false }, d1, ok(3));
  assert.equal(t.size, 3, 'one entry beyond maxClients, for the node\'s own id');
  assert.deepEqual(t.check({ clientId: 'synod:sessions@n1', seq: 1, first: true }, d1), { kind: 'done', outcome: ok(3) });
});

test('a refusal is recorded only where the table has room', () => {
  // Proves refusals cannot push the table beyond maxClients.
  const t = table({ maxClients: 1 });
  t.sweep(0, t.limits);
  t.record({ clientId: 'a', seq: 1, first: false }, d1, ok(1));
  t.recordRefusal({ clientId: 'b', seq: 1, first: false }, d1, { ok: false, code: 'client-expired', message: '' });
  assert.deepEqual(ids(t), ['a']);
});

test('a sweep with lower limits evicts what it may at once, and the limits it carries stay in force', () => {
  // Proves the limits are replicated state, taken from the sweeps.
  const t = table({ maxClients: 5, evictableAfterMs: 10 });
  t.sweep(0, t.limits);
  for (const id of ['a', 'b', 'c', 'd']) t.record({ clientId: id, seq: 1, first: false }, d1, ok(id));
  const r = t.sweep(100, { retentionMs: 10_000, maxClients: 2, evictableAfterMs: 10 });
  assert.deepEqual({ evicted: r.evicted, clients: r.clients }, { evicted: 2, clients: 2 });
  assert.deepEqual(ids(t), ['c', 'd']);
  assert.deepEqual(t.limits, { retentionMs: 10_000, maxClients: 2, evictableAfterMs: 10 });
});

test('limits that are not positive numbers are refused', () => {
  // Proves a table is never made with a bound that means nothing.
  assert.throws(() => table({ maxClients: 0 }), RangeError);
  assert.throws(() => table({ maxClients: 1.5 }), RangeError);
  assert.throws(() => table({ retentionMs: Number.NaN }), RangeError);
  assert.throws(() => table({ evictableAfterMs: -1 }), RangeError);
});

test('restoring entries refuses what no table holds: a client twice, activity out of order, after the clock, or without a clock', () => {
  // Proves a transfer cannot plant a table that breaks the order invariant.
  const entry = (activeMs: number | null) => ({ floor: 1, slots: new Map([[1, { digest: d1, outcome: ok(1) }]]), expired: false, activeMs });
  const t = new ClientTable(roomy, 100);
  t.restore('a', entry(10));
  assert.throws(() => t.restore('a', entry(20)), /twice/);
  assert.throws(() => t.restore('b', entry(5)), /order/);
  assert.throws(() => t.restore('b', entry(200)), /after the clock/);
  assert.throws(() => t.restore('b', entry(null)), /clock/);
  assert.throws(() => new ClientTable(roomy, null).restore('a', entry(1)), /clock/);
  assert.throws(() => t.restore('c', { ...entry(50), floor: 2 }), /outside the window/, 'a slot below the floor');
});
