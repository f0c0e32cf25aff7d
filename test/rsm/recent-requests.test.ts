// RecentRequests: the stretch of recent history a replica keeps so that another whose state stands
// on it catches up by executing the rest (instead of copying the whole state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newRequest } from '../../src/rsm/messages.js';
import { RecentRequests } from '../../src/rsm/recent-requests.js';
import type { Viewstamp } from '../../src/rsm/viewstamp.js';

const req = (n: number) => newRequest('c1', n, 'append', { item: `item-${n}` });
const seqnos = (list: ReadonlyArray<{ vs: Viewstamp }> | null): string[] | null => list?.map((e) => `${e.vs.vid}.${e.vs.seqno}`) ?? null;

test('from the base, from any kept viewstamp, or from the last; null from anywhere else', () => {
  const r = new RecentRequests({ requests: 100, bytes: 1 << 20 });
  r.reset({ vid: 2, seqno: 4 });
  r.executed({ vid: 2, seqno: 5 }, req(5));
  r.executed({ vid: 2, seqno: 6 }, req(6));
  r.executed({ vid: 3, seqno: 1 }, req(7));
  assert.deepEqual(seqnos(r.suffixAfter({ vid: 2, seqno: 4 }, 1 << 20, 100)), ['2.5', '2.6', '3.1'], 'from the base: everything');
  assert.deepEqual(seqnos(r.suffixAfter({ vid: 2, seqno: 6 }, 1 << 20, 100)), ['3.1'], 'across a view change');
  assert.deepEqual(seqnos(r.suffixAfter({ vid: 3, seqno: 1 }, 1 << 20, 100)), [], 'from the last: nothing to do');
  assert.equal(r.suffixAfter({ vid: 2, seqno: 3 }, 1 << 20, 100), null, 'before the base: a whole copy');
  assert.equal(r.suffixAfter({ vid: 2, seqno: 7 }, 1 << 20, 100), null, 'a viewstamp this history never passed through');
});

test('a suffix is cut at the byte and count budgets but is never empty; the oldest go first beyond the limits', () => {
  const r = new RecentRequests({ requests: 3, bytes: 1 << 20 });
  r.reset({ vid: 1, seqno: 0 });
  for (let n = 1; n <= 5; n++) r.executed({ vid: 1, seqno: n }, req(n));
  assert.equal(r.size, 3);
  assert.equal(r.suffixAfter({ vid: 1, seqno: 1 }, 1 << 20, 100), null, 'dropped: no longer on the stretch');
  assert.deepEqual(seqnos(r.suffixAfter({ vid: 1, seqno: 2 }, 1 << 20, 100)), ['1.3', '1.4', '1.5'], 'the new base');
  assert.deepEqual(seqnos(r.suffixAfter({ vid: 1, seqno: 2 }, 1, 100)), ['1.3'], 'one at least, whatever the byte budget');
  assert.deepEqual(seqnos(r.suffixAfter({ vid: 1, seqno: 2 }, 1 << 20, 2)), ['1.3', '1.4'], 'at most the count');
  r.reset({ vid: 4, seqno: 0 });
  assert.equal(r.suffixAfter({ vid: 1, seqno: 5 }, 1 << 20, 100), null, 'a state replaced whole starts the stretch over');
});
