// The serving primary's own durable record of a request (a `stamped` record) is written while the
// invoke is out, and what the primary holds in memory never differs from what its disk replays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type TestState, testApp } from '../../src/apps/test-app.js';
import type { SelfStatus } from '../../src/config/view-manager.js';
import { silentLogger } from '../../src/env/logger.js';
import { ReturnAddress } from '../../src/env/transport.js';
import { type RsmOptions, rsmOptions } from '../../src/options.js';
import type { DurableReplicaState, RsmLogRecord, RsmRecord } from '../../src/rsm/durable-records.js';
import { append, drivenPrimary } from './hand-driven.js';
import { decodeRsmRecord, encodeRsmRecord } from '../../src/rsm/durable-records.js';
import { Replica } from '../../src/rsm/replica.js';

/**
 * The serving primary `p` of view 1 = [p, b] (`drivenPrimary`), the test playing backup b: a call
 * numbered n appends `x<n>`; `nextView` commits view 2 = [p, b, c].
 */
function servingPrimary(options: Partial<RsmOptions> = {}) {
  const p = drivenPrimary(['b'], { options });
  return {
    replica: p.replica,
    disk: p.disk,
    call: (n: number) => p.call(new ReturnAddress(`r${n}`), append(n, `x${n}`)),
    ack: (seqno: number) => p.ackOut('b', seqno),
    nextView: () => p.nextView(['p', 'b', 'c']),
  };
}

/** A replica (not the first node) rebuilt from `durable`, as a restart would. */
function restored(durable: DurableReplicaState): Replica<TestState> {
  const config = { get vid() { return 0; }, get status(): SelfStatus { return 'outside'; }, members: () => [], setAdmission: () => {} };
  return new Replica<TestState>({ clock: { now: () => 0 }, self: 'a', app: testApp, config, logger: silentLogger, genesis: false, durable, options: rsmOptions({}) });
}

const logRecords = (disk: readonly RsmRecord[]): RsmLogRecord[] => disk.filter((r): r is RsmLogRecord => r.kind !== 'snapshot');

test('the invoke leaves ahead of the stamped record, and the reply follows the acknowledgement with nothing more to persist', () => {
  const p = servingPrimary();
  const stamped = p.call(1);
  assert.deepEqual(stamped.records, [{ kind: 'stamped', vs: { vid: 1, seqno: 1 }, request: append(1, 'x1') }]);
  assert.deepEqual(stamped.aheadSends.map((s) => [s.to, s.msg.kind]), [['b', 'invoke']], 'the invoke does not wait for the record');
  assert.deepEqual(stamped.outgoing, []);
  const acked = p.ack(1);
  assert.deepEqual(acked.records, [], 'the stamped record stands for the execution');
  assert.deepEqual(acked.answers.map((a) => a.answer.kind), ['executed']);
});

test('a stamped record reads back as it was written', () => {
  const r: RsmLogRecord = { kind: 'stamped', vs: { vid: 3, seqno: 7 }, request: append(2, 'y') };
  assert.deepEqual(decodeRsmRecord(encodeRsmRecord(r)), r);
});

test('a primary that leaves its view executes what it stamped, so its state is the one its disk replays', () => {
  // Without it, the replica would report and serve a state behind its own disk's: after a
  // restart it would hold requests its earlier life never told anyone of, and diverge.
  const p = servingPrimary();
  p.call(1);
  p.call(2);
  p.call(3);
  p.ack(1);
  assert.deepEqual(p.replica.lastExecuted, { vid: 1, seqno: 1 });
  const left = p.nextView();
  assert.deepEqual(p.replica.lastExecuted, { vid: 1, seqno: 3 });
  assert.deepEqual(left.answers.map((a) => [String(a.to), a.answer.kind]), [['r2', 'busy'], ['r3', 'busy']], 'unanswered: the clients retry');
  const replayed = restored({ snapshot: null, records: logRecords(p.disk) });
  assert.deepEqual(replayed.lastExecuted, { vid: 1, seqno: 3 });
  assert.deepEqual(replayed.snapshotBytes(), p.replica.snapshotBytes());
});

test('a compaction on the primary is followed by the stamped records still in flight, and a replay that misses the snapshot skips them', () => {
  const p = servingPrimary({ snapshotEveryRequests: 1 });
  p.call(1);
  p.call(2);
  p.call(3);
  const acked = p.ack(1);
  assert.deepEqual(acked.records.map((r) => (r.kind === 'stamped' ? `stamped ${r.vs.seqno}` : r.kind)), ['snapshot', 'stamped 2', 'stamped 3']);
  p.nextView();
  // The snapshot made durable: replay starts from it and the records after it.
  const at = p.disk.lastIndexOf(acked.records[0]!);
  const snapshot = p.disk[at]!;
  assert.equal(snapshot.kind, 'snapshot');
  const fromSnapshot = restored({ snapshot: { state: snapshot.state, syncedVid: snapshot.syncedVid }, records: logRecords(p.disk.slice(at + 1)) });
  assert.deepEqual(fromSnapshot.snapshotBytes(), p.replica.snapshotBytes());
  // The snapshot lost in a crash: the older generation, then the newer one, are replayed; the
  // stamped records written again after the snapshot repeat what the older one holds.
  const fromLog = restored({ snapshot: null, records: logRecords(p.disk) });
  assert.deepEqual(fromLog.lastExecuted, { vid: 1, seqno: 3 });
  assert.deepEqual(fromLog.snapshotBytes(), p.replica.snapshotBytes());
});
