// Invoke batching on the primary→backup path, driven by hand through the replica's real handlers:
// when a batch leaves and what it holds, cumulative acknowledgements, and a backup's side of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReturnAddress } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { ReplicaMessage } from '../../src/rsm/messages.js';
import type { RsmOutbox } from '../../src/rsm/replica.js';
import { invokeBatches } from '../../src/rsm/invoke-batches.js';
import { append, drivenBackup, drivenPrimary, invokedSeqnos } from './hand-driven.js';

/** The invoke batches in `out`, as `[backup, seqnos]`, in the order recorded. */
function batches(out: RsmOutbox): Array<[NodeId, number[]]> {
  return out.sends.flatMap((s) => (s.msg.kind === 'invoke' ? [[s.to, invokedSeqnos(s.msg)] as [NodeId, number[]]] : []));
}

/** The acknowledgements in `out`: `[seqno, sent ahead of the batch's records]`. */
function acks(out: RsmOutbox): Array<[number, boolean]> {
  const ack = (m: ReplicaMessage): number[] => (m.kind === 'invoke-ack' ? [m.vs.seqno] : []);
  return [
    ...out.aheadSends.flatMap((s) => ack(s.msg).map((n) => [n, true] as [number, boolean])),
    ...out.sends.filter((s) => !out.aheadSends.includes(s)).flatMap((s) => ack(s.msg).map((n) => [n, false] as [number, boolean])),
  ];
}

const call = (p: ReturnType<typeof drivenPrimary>, seq: number, padTo = 0): RsmOutbox =>
  p.call(new ReturnAddress(`r${seq}`), append(seq, `i${seq}`, `c${seq}`, padTo));

test('a lone request leaves at once, to every backup, ahead of its stamped record', () => {
  const p = drivenPrimary(['b1', 'b2']);
  const out = call(p, 1);
  assert.deepEqual(batches(out), [['b1', [1]], ['b2', [1]]]);
  assert.equal(out.aheadSends.length, 2, 'the invokes do not wait for the stamped record');
  assert.deepEqual(out.records.map((r) => r.kind), ['stamped']);
});

test('requests that arrive while maxInvokeBatchesInFlight batches are out wait, and leave as one batch when the ack frees a slot', () => {
  const p = drivenPrimary(['b'], { options: { maxInvokeBatchesInFlight: 2 } });
  assert.deepEqual(batches(call(p, 1)), [['b', [1]]]);
  assert.deepEqual(batches(call(p, 2)), [['b', [2]]], 'a second slot');
  for (const seq of [3, 4, 5]) {
    const out = call(p, seq);
    assert.deepEqual(batches(out), [], `${seq} waits: both slots are taken`);
    assert.deepEqual(out.records.map((r) => r.kind), ['stamped'], 'stamped (and recorded) on arrival all the same');
  }
  const freed = p.ackOut('b', 1);
  assert.deepEqual(freed.answers.map((a) => a.answer.kind === 'executed' && a.answer.seq), [1]);
  assert.deepEqual(batches(freed), [['b', [3, 4, 5]]], 'everything that waited, in one batch');
  assert.deepEqual(batches(call(p, 6)), [], 'two batches are out again');
});

test('each backup has its own slots: a slow backup gets what waited in one batch later, and never holds back the other', () => {
  const p = drivenPrimary(['fast', 'slow'], { options: { maxInvokeBatchesInFlight: 1 } });
  call(p, 1);
  for (const seq of [2, 3]) assert.deepEqual(batches(call(p, seq)), []);
  assert.deepEqual(batches(p.ackOut('fast', 1)), [['fast', [2, 3]]]);
  assert.deepEqual(batches(call(p, 4)), [], 'the fast backup has a batch out, the slow one too');
  assert.deepEqual(batches(p.ackOut('fast', 3)), [['fast', [4]]]);
  const slowAck = p.ackOut('slow', 1);
  assert.deepEqual(slowAck.answers.map((a) => a.answer.kind === 'executed' && a.answer.seq), [1], 'executed once both acknowledged');
  assert.deepEqual(batches(slowAck), [['slow', [2, 3, 4]]]);
});

test('a cumulative acknowledgement executes every request below it, in order', () => {
  const p = drivenPrimary(['b'], { options: { maxInvokeBatchesInFlight: 4 } });
  for (const seq of [1, 2, 3, 4]) call(p, seq);
  const answered = p.ack('b', 3);
  assert.deepEqual(answered.map((a) => a.kind === 'executed' && a.seq), [1, 2, 3]);
  assert.deepEqual(p.executed, [1, 2, 3]);
  assert.deepEqual(p.ack('b', 2), [], 'an older acknowledgement tells nothing new');
  assert.deepEqual(p.ack('b', 9), [], 'nor one above anything sent');
  assert.deepEqual(p.ack('b', 4).map((a) => a.kind === 'executed' && a.seq), [4]);
});

test('the batch bounds split a large backlog, and a request above the byte bound goes alone', () => {
  const p = drivenPrimary(['b'], { options: { maxInvokeBatchesInFlight: 1, maxInvokeBatchRequests: 2 } });
  call(p, 1);
  for (const seq of [2, 3, 4, 5, 6]) call(p, seq);
  assert.deepEqual(batches(p.ackOut('b', 1)), [['b', [2, 3]]], 'one slot: one batch of at most 2');
  assert.deepEqual(batches(p.ackOut('b', 3)), [['b', [4, 5]]]);
  assert.deepEqual(batches(p.ackOut('b', 5)), [['b', [6]]]);
  // Three slots free at once: the backlog leaves as three batches within the byte bound.
  const q = drivenPrimary(['b'], { options: { maxInvokeBatchesInFlight: 3, maxInvokeBatchBytes: 2500, clientInFlightShare: 1 } });
  for (const seq of [1, 2, 3]) call(q, seq);
  for (const seq of [4, 5, 6, 7]) call(q, seq, 1000);
  call(q, 8, 5000);
  call(q, 9, 1000);
  assert.deepEqual(batches(q.ackOut('b', 3)), [['b', [4, 5]], ['b', [6, 7]], ['b', [8]]], 'two of ~1000 bytes fit in 2500; the large one alone');
  assert.deepEqual(batches(q.ackOut('b', 8)), [['b', [9]]]);
});

test('batches are split at gaps in the seqnos, by count and by bytes, never empty', () => {
  const entries = [1, 2, 3, 5, 6, 7, 8].map((seqno) => ({ seqno, bytes: seqno === 7 ? 50 : 10 }));
  const seqnos = (bounds: { maxInvokeBatchRequests: number; maxInvokeBatchBytes: number }): number[][] =>
    [...invokeBatches(entries, bounds)].map((b) => b.map((e) => e.seqno));
  assert.deepEqual(seqnos({ maxInvokeBatchRequests: 10, maxInvokeBatchBytes: 1000 }), [[1, 2, 3], [5, 6, 7, 8]]);
  assert.deepEqual(seqnos({ maxInvokeBatchRequests: 2, maxInvokeBatchBytes: 1000 }), [[1, 2], [3], [5, 6], [7, 8]]);
  assert.deepEqual(seqnos({ maxInvokeBatchRequests: 10, maxInvokeBatchBytes: 30 }), [[1, 2, 3], [5, 6], [7], [8]]);
  assert.deepEqual([...invokeBatches([], { maxInvokeBatchRequests: 1, maxInvokeBatchBytes: 1 })], []);
});

test('re-sends to a backup go in batches within the bounds, from what it has not acknowledged', () => {
  const p = drivenPrimary(['b1', 'b2'], { options: { maxInvokeBatchesInFlight: 4, maxInvokeBatchRequests: 2 } });
  for (const seq of [1, 2, 3]) call(p, seq);
  p.ack('b1', 3);
  p.ack('b2', 1);
  p.tick();
  const resent = p.run((o) => p.replica.onTimer('rsm-invoke-retry', o));
  assert.deepEqual(batches(resent), [['b2', [2, 3]]], 'b1 acknowledged everything; b2 gets 2 and 3 in one batch');
});

test('a backup executes a whole batch with its records in one handler, and sends one acknowledgement after them', () => {
  const b = drivenBackup();
  const out = b.run((o) => b.replica.onMessage('p', { kind: 'invoke', vid: 1, firstSeqno: 1, requests: [append(1, 'a'), append(2, 'b'), append(3, 'c')] }, o));
  assert.deepEqual(out.records.map((r) => r.kind), ['executed', 'executed', 'executed'], 'one append of the batch');
  assert.deepEqual(acks(out), [[3, false]], 'one cumulative ack, which waits for those records');
  assert.deepEqual(b.replica.state!.list, ['a', 'b', 'c']);
});

test('with the ackBatchBeforeFsync mutation the acknowledgement is sent ahead of the batch\'s records', () => {
  const b = drivenBackup({ mutations: { ackBatchBeforeFsync: true } });
  const out = b.run((o) => b.replica.onMessage('p', { kind: 'invoke', vid: 1, firstSeqno: 1, requests: [append(1, 'a'), append(2, 'b')] }, o));
  assert.deepEqual(acks(out), [[2, true]]);
});

test('a duplicate batch is acknowledged again, cumulatively, and executes nothing twice', () => {
  const b = drivenBackup();
  const batch = [append(1, 'a'), append(2, 'b'), append(3, 'c')];
  assert.deepEqual(b.invokeBatch(1, batch), [3]);
  assert.deepEqual(b.invokeBatch(1, batch), [3]);
  assert.deepEqual(b.invokeBatch(2, batch.slice(1)), [3]);
  assert.deepEqual(b.executed, [1, 2, 3]);
  // A batch that overlaps what was executed runs only its new part.
  assert.deepEqual(b.invokeBatch(3, [append(3, 'c'), append(4, 'd'), append(5, 'e')]), [5]);
  assert.deepEqual(b.executed, [1, 2, 3, 4, 5]);
});

test('an early batch is buffered without an acknowledgement, and runs once the batch before it comes', () => {
  const b = drivenBackup();
  assert.deepEqual(b.invokeBatch(3, [append(3, 'c'), append(4, 'd')]), [], 'nothing new executed: no ack');
  assert.deepEqual(b.replica.buffered.count, 2);
  assert.deepEqual(b.invokeBatch(1, [append(1, 'a'), append(2, 'b')]), [4], 'the gap filled: all four run, one ack');
  assert.deepEqual(b.executed, [1, 2, 3, 4]);
  assert.deepEqual(b.replica.buffered, { count: 0, bytes: 0 });
  assert.deepEqual(b.replica.state!.list, ['a', 'b', 'c', 'd']);
});

test('a batch of another view is rejected once, naming its first viewstamp', () => {
  const b = drivenBackup();
  const out = b.run((o) => b.replica.onMessage('p', { kind: 'invoke', vid: 7, firstSeqno: 4, requests: [append(4, 'x'), append(5, 'y')] }, o));
  assert.deepEqual(out.sends.map((s) => s.msg), [{ kind: 'invoke-reject', vs: { vid: 7, seqno: 4 }, vid: 1 }]);
  assert.deepEqual(b.executed, []);
});
