import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Json } from '../../src/rsm/app.js';
import { ClientTable, type Outcome } from '../../src/rsm/client-table.js';

// ClientTable: the at-most-once table of design §4 (last seq and its outcome per client).

const ok = (value: Json): Outcome => ({ ok: true, value });
const refused = (code: string, message: string): Outcome => ({ ok: false, code, message });

test('a client the table has never seen has every request new', () => {
  // Nothing recorded means nothing to answer from the table.
  const t = new ClientTable();
  assert.deepEqual(t.check('c1', 1), { kind: 'new' });
  assert.deepEqual(t.check('c1', 99), { kind: 'new' });
  assert.equal(t.size, 0);
});

test('the last executed request is done with its outcome; a later one is new; an earlier one is stale', () => {
  // new / done / stale follow the client's seq relative to the last one executed.
  const t = new ClientTable();
  t.record('c1', 5, ok({ granted: true }));
  assert.deepEqual(t.check('c1', 5), { kind: 'done', outcome: ok({ granted: true }) });
  assert.deepEqual(t.check('c1', 6), { kind: 'new' });
  assert.deepEqual(t.check('c1', 4), { kind: 'stale' });
  assert.deepEqual(t.check('c1', 1), { kind: 'stale' });
  assert.deepEqual(t.check('c2', 5), { kind: 'new' }, 'another client is unaffected');
});

test('an app refusal is remembered as the outcome like any reply', () => {
  // A refused operation was executed; its retry gets the same refusal.
  const t = new ClientTable();
  t.record('c1', 1, refused('NO_SUCH_LOCK', 'lock x does not exist'));
  assert.deepEqual(t.check('c1', 1), { kind: 'done', outcome: refused('NO_SUCH_LOCK', 'lock x does not exist') });
});

test('recording a newer request replaces the older one for that client only', () => {
  // The table keeps one entry per client: the latest executed request.
  const t = new ClientTable();
  t.record('c1', 1, ok(1));
  t.record('c2', 7, ok(7));
  t.record('c1', 2, ok(2));
  assert.equal(t.size, 2);
  assert.deepEqual(t.check('c1', 2), { kind: 'done', outcome: ok(2) });
  assert.deepEqual(t.check('c1', 1), { kind: 'stale' });
  assert.deepEqual(t.check('c2', 7), { kind: 'done', outcome: ok(7) });
});

test('toJson lists clients sorted by id whatever the order they were recorded in', () => {
  // State transfer ships a deterministic form: equal tables give equal bytes.
  const ids = ['m', 'B', 'a', 'z-9', 'z-10', 'é', '10', '9', ''];
  const t = new ClientTable();
  ids.forEach((id, i) => t.record(id, i + 1, ok(i)));
  const rows = t.toJson();
  const expected = [...ids].sort(); // code-unit order, as the table sorts
  assert.deepEqual(rows.map(([id]) => id), expected);

  const u = new ClientTable();
  [...ids].reverse().forEach((id) => u.record(id, ids.indexOf(id) + 1, ok(ids.indexOf(id))));
  assert.equal(JSON.stringify(u.toJson()), JSON.stringify(rows), 'the same table recorded in another order serializes identically');
});

test('toJson round-trips through fromJson, also through JSON text', () => {
  // A table rebuilt from its plain form answers every check as the original does.
  const t = new ClientTable();
  t.record('client-b', 3, ok({ nested: [1, 'two', null, true, { x: 1.5 }] }));
  t.record('client-a', 1, refused('E', ''));
  t.record('client-c', Number.MAX_SAFE_INTEGER, ok(null));
  for (const copy of [ClientTable.fromJson(t.toJson()), ClientTable.fromJson(JSON.parse(JSON.stringify(t.toJson())))]) {
    assert.deepEqual(copy.toJson(), t.toJson());
    assert.equal(copy.size, 3);
    for (const [id, seq, outcome] of t.toJson()) {
      assert.deepEqual(copy.check(id, seq), { kind: 'done', outcome });
      assert.deepEqual(copy.check(id, seq + 1), { kind: 'new' });
      if (seq > 1) assert.deepEqual(copy.check(id, seq - 1), { kind: 'stale' });
    }
  }
  assert.deepEqual(ClientTable.fromJson([]).toJson(), []);
});
