// The KV fuzz workload's register model: a read sees the last put (value and revision) or nothing
// (a fuzz delete may empty the key at any time), never an older value, and a put's revision is
// above every one seen before it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLinearizable } from '../../tools/lincheck/check.js';
import type { History } from '../../tools/lincheck/types.js';
import { type KvRegisterInput, type KvRegisterOutput, kvRegisterModel } from '../../tools/fuzz/good-kv.js';

const key = 'wellbehaved§kv';
type Op = [KvRegisterInput, KvRegisterOutput | undefined];
const put = (value: string, revision?: number): Op => [{ proc: 'put', key, value }, revision === undefined ? undefined : { revision }];
const get = (value: string | null, modRevision = 0): Op => [{ proc: 'get', key }, { value, modRevision }];

/** One client's operations, one after another. */
function history(ops: readonly Op[]): History<KvRegisterInput, KvRegisterOutput> {
  return ops.map(([input, output], i) => ({ id: i, client: 'c', input, output, call: 2 * i, ret: output === undefined ? undefined : 2 * i + 1 }));
}

const verdict = (ops: readonly Op[]): string => checkLinearizable(history(ops), kvRegisterModel).verdict;

test('reads of the last put, of nothing after a delete, and of a key kept from before the history pass', () => {
  assert.equal(verdict([get('old', 3), put('a', 7), get('a', 7), get(null), put('b', 9), get('b', 9)]), 'ok');
  assert.equal(verdict([put('a'), get('a', 12)]), 'ok', 'a put of unknown outcome, then read');
});

test('a stale read, a deleted value coming back, a wrong revision and revisions going back fail', () => {
  assert.equal(verdict([put('a', 5), put('b', 6), get('a', 5)]), 'violation');
  assert.equal(verdict([put('a', 5), get(null), get('a', 5)]), 'violation');
  assert.equal(verdict([put('a', 5), get('a', 4)]), 'violation');
  assert.equal(verdict([put('a', 5), put('b', 5)]), 'violation');
  assert.equal(verdict([get('x', 8), put('a', 8)]), 'violation');
});
