// The client table at scale: 100,000 distinct client ids through the replicated state as a
// replica executes them, the table bounded by maxClients throughout, and the state shipped to
// another replica in chunks and installed there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/env/logger.js';
import { AppGuard } from '../../src/rsm/app-guard.js';
import { type TableLimits, sweepProc } from '../../src/rsm/client-table.js';
import { sweepArgs } from '../../src/rsm/client-sweep.js';
import { ReplicatedState } from '../../src/rsm/execution.js';
import { newRequest } from '../../src/rsm/messages.js';
import { StateTransfer } from '../../src/rsm/state-transfer.js';
import { testApp } from '../../src/apps/test-app.js';
import { defaultRsmOptions } from '../../src/options.js';

const clientIds = 100_000;
const limits: TableLimits = { retentionMs: 60_000, maxClients: 40_000, evictableAfterMs: 1000 };

test('100,000 client ids, one call each, leave at most maxClients entries, and the table ships in 256 KiB chunks', () => {
  // Proves the bound holds under a stream of new ids (the oldest idle entries go first), and that
  // a table that large crosses a state transfer whole, chunk by chunk.
  const held = new ReplicatedState(new AppGuard(testApp, silentLogger), silentLogger, {}, true, limits, { requests: 100, bytes: 1 << 20 });
  let seqno = 0;
  let nowMs = 1_000_000;
  const sweep = (): void => {
    held.execute({ vid: 1, seqno: ++seqno }, newRequest('synod:sweep@n1', seqno, sweepProc, sweepArgs({ nowMs, limits })));
  };
  sweep();
  let refusedFull = 0;
  let largest = 0;
  for (let i = 0; i < clientIds; i++) {
    if (i % 1000 === 0) {
      nowMs += 100; // a sweep every thousand calls, 100 ms apart: entries become evictable after 10,000 calls
      sweep();
    }
    const e = held.execute({ vid: 1, seqno: ++seqno }, newRequest(`client-${i}`, 1, 'add', { key: 'calls', by: 1 }));
    if (e.kind === 'retry' && !e.outcome.ok && e.outcome.code === 'client-table-full') refusedFull++;
    largest = Math.max(largest, held.clients);
  }
  assert.ok(largest <= limits.maxClients, `the table held ${largest} entries`);
  assert.equal(held.clients, limits.maxClients);
  assert.equal(refusedFull, 0, 'the oldest entries were always idle long enough to make room');

  // The most recent 40,000 clients are the ones kept: the first ids are refused as unknown.
  const early = held.execute({ vid: 1, seqno: ++seqno }, newRequest('client-0', 2, 'add', { key: 'calls', by: 1 }, false));
  assert.ok(early.kind === 'retry' && !early.outcome.ok && early.outcome.code === 'client-expired');
  const recent = held.execute({ vid: 1, seqno: ++seqno }, newRequest(`client-${clientIds - 1}`, 1, 'add', { key: 'calls', by: 1 }, false));
  assert.deepEqual(recent, { kind: 'retry', outcome: { ok: true, value: clientIds } }, 'a recent client\'s retry is answered from its entry');

  const last = held.last!;
  const source = held.sourceAt(last);
  assert.ok(source !== null);
  const pull = new StateTransfer(2, 'n1', last, defaultRsmOptions.maxStateTransferBytes);
  let chunks = 0;
  for (let p: ReturnType<StateTransfer['accept']> = 'more'; p === 'more';) {
    const chunk = source.chunk(2, 'n2', pull.received, defaultRsmOptions.stateChunkBytes)!;
    assert.ok(chunk.data.length <= defaultRsmOptions.stateChunkBytes);
    p = pull.accept('n1', chunk);
    chunks++;
    if (p !== 'more') assert.equal(p, 'complete');
  }
  const copy = new ReplicatedState(new AppGuard(testApp, silentLogger), silentLogger, {}, false, limits, { requests: 100, bytes: 1 << 20 });
  assert.ok(copy.install(pull.result(), last, 'n1'));
  assert.equal(copy.clients, limits.maxClients);
  assert.ok(Buffer.from(copy.snapshotBytes()!).equals(Buffer.from(held.snapshotBytes()!)), 'the copy is the same state, entry order included');
  console.log(`${clientIds} client ids: ${held.clients} entries kept, shipped in ${chunks} chunks (${pull.received} bytes)`);
});

