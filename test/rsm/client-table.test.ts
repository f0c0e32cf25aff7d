// The replicated client table: at-most-once execution keyed by (client id, sequence number),
// with a digest of the request so that a reused number carrying another request is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientTable, type Outcome, requestDigest } from '../../src/rsm/client-table.js';
import type { Json } from '../../src/rsm/app.js';
import { newRequest } from '../../src/rsm/messages.js';

const ok = (value: unknown): Outcome => ({ ok: true, value: value as never });
const digestOf = (proc: string, args: Json): string => requestDigest(newRequest('c', 1, proc, args));
const d1 = digestOf('append', { item: 'a' });
const d2 = digestOf('append', { item: 'b' });

test('a client the table has never seen has every request new', () => {
  // Proves a fresh table executes anything.
  const t = new ClientTable();
  assert.deepEqual(t.check('c', 1, d1), { kind: 'new' });
  assert.deepEqual(t.check('c', 99, d2), { kind: 'new' });
});

test('the last executed request is done with its outcome; a later one is new; an earlier one is stale', () => {
  // Proves the three answers of at-most-once execution.
  const t = new ClientTable();
  t.record('c', 5, d1, ok(7));
  assert.deepEqual(t.check('c', 5, d1), { kind: 'done', outcome: ok(7) });
  assert.deepEqual(t.check('c', 6, d2), { kind: 'new' });
  assert.deepEqual(t.check('c', 4, d1), { kind: 'stale' });
});

test('a reused number that carries another request is a conflict, never answered with the other outcome', () => {
  // Proves a client id reused across client lives cannot get another request's answer.
  const t = new ClientTable();
  t.record('c', 5, d1, ok(7));
  assert.deepEqual(t.check('c', 5, d2), { kind: 'conflict' });
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

test('recording a newer request replaces the older one for that client only', () => {
  // Proves entries are per client.
  const t = new ClientTable();
  t.record('a', 1, d1, ok(1));
  t.record('b', 1, d1, ok(2));
  t.record('a', 2, d2, ok(3));
  assert.deepEqual(t.check('a', 2, d2), { kind: 'done', outcome: ok(3) });
  assert.deepEqual(t.check('b', 1, d1), { kind: 'done', outcome: ok(2) });
  assert.equal(t.size, 2);
});

test('toJson lists clients sorted by id and round-trips through fromJson and JSON text', () => {
  // Proves the table ships deterministically in state transfer.
  const t = new ClientTable();
  t.record('zed', 3, d1, ok('z'));
  t.record('amy', 9, d2, { ok: false, code: 'nope', message: 'refused' });
  assert.deepEqual(t.toJson().map((r) => r[0]), ['amy', 'zed']);
  const back = ClientTable.fromJson(JSON.parse(JSON.stringify(t.toJson())));
  assert.deepEqual(back.toJson(), t.toJson());
  assert.deepEqual(back.check('amy', 9, d2), { kind: 'done', outcome: { ok: false, code: 'nope', message: 'refused' } });
});
