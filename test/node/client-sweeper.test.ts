// Proves the client table's replicated clock never runs ahead of real time, whatever the stamping
// primary's wall clock says: a ClientSweeper drives a real ClientTable (as executing its sweeps
// would) while its wall clock jumps ahead, its sweeps are lost, and its reign changes. An entry is
// evicted only after its client has really been idle clientEvictableAfterMs, which is what keeps
// a new client's marked retry from running twice (review finding M1: a primary's clock 6 minutes
// ahead used to evict a client 0 s after its call).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Executor } from '../../src/env/executor.js';
import { silentLogger } from '../../src/env/logger.js';
import { defaultRsmOptions } from '../../src/options.js';
import { ClientSweeper, maxSweepAdvanceIntervals } from '../../src/node/client-sweeper.js';
import { ClientTable } from '../../src/rsm/client-table.js';
import { executeSweep } from '../../src/rsm/client-sweep.js';
import type { ClientAnswer, Request } from '../../src/rsm/messages.js';
import type { Json } from '../../src/rsm/app.js';
import { ManualClock } from '../support/manual-clock.js';


const sweepMs = defaultRsmOptions.clientTableSweepMs;
const limits = { retentionMs: defaultRsmOptions.clientRetentionMs, maxClients: 2, evictableAfterMs: 60_000 };

/** A primary's sweeper over `table`: its sweeps execute on the table unless `lose` is set. */
function rig(wallAheadMs: () => number) {
  const clock = new ManualClock();
  const table = new ClientTable(limits);
  const replica = { isPrimary: true, status: 'normal' as const, vid: 3, get tableClockMs() { return table.clockMs; } };
  const stamps: number[] = [];
  let lose = false;
  const sweeper = new ClientSweeper({
    self: 'n1', executor: new Executor((err) => { throw err; }), clock, logger: silentLogger, replica,
    wallClockMs: () => 1_000_000 + clock.now() + wallAheadMs(),
    submit: (request: Request, onAnswer: (answer: ClientAnswer) => void) => {
      stamps.push((request.args as Record<string, Json>)['nowMs'] as number);
      if (!lose) {
        const outcome = executeSweep(table, request.args);
        onAnswer({ kind: 'executed', clientId: request.clientId, seq: request.seq, outcome });
      }
      return () => undefined;
    },
    options: { ...defaultRsmOptions, clientEvictableAfterMs: limits.evictableAfterMs, maxClients: limits.maxClients },
    firstSeq: 0,
  });
  sweeper.start();
  return { clock, table, replica, stamps, sweeper, setLose: (v: boolean) => { lose = v; } };
}

test('the table\'s clock follows the time the primary measured, never its wall clock: a jump of 6 minutes ahead moves it by at most two intervals', () => {
  let ahead = 0;
  const r = rig(() => ahead);
  r.clock.advance(sweepMs); // the first sweep starts the clock
  const start = r.table.clockMs!;
  r.clock.advance(5 * sweepMs);
  assert.equal(r.table.clockMs! - start, 5 * sweepMs, 'each sweep adds the interval measured');
  ahead = 6 * 60_000; // an NTP step, a resumed VM
  r.clock.advance(sweepMs);
  assert.equal(r.table.clockMs! - start, 6 * sweepMs, 'the wall clock\'s jump is not taken');
  r.sweeper.stop();
});

test('sweeps that do not get in (lost, or BUSY) make the clock lag, never jump: at most two intervals per sweep', () => {
  const r = rig(() => 0);
  r.clock.advance(sweepMs);
  const start = r.table.clockMs!;
  r.setLose(true);
  r.clock.advance(30 * sweepMs); // five minutes of sweeps that never execute
  r.setLose(false);
  r.clock.advance(sweepMs);
  const moved = r.table.clockMs! - start;
  assert.ok(moved <= maxSweepAdvanceIntervals * sweepMs, `moved ${moved} ms after 31 intervals with 30 sweeps lost`);
  assert.ok(moved > 0);
  r.sweeper.stop();
});

test('a new reign (another view) only starts measuring: its first tick stamps nothing, the next one interval', () => {
  const r = rig(() => 0);
  r.clock.advance(sweepMs);
  const before = r.stamps.length;
  const start = r.table.clockMs!;
  r.replica.vid = 4;
  r.clock.advance(sweepMs);
  assert.equal(r.stamps.length, before, 'no sweep on the reign\'s first tick');
  r.clock.advance(sweepMs);
  assert.equal(r.table.clockMs! - start, sweepMs);
  r.sweeper.stop();
});

test('with the wall clock 6 minutes ahead, a new client\'s entry is not evicted before it has been idle evictableAfterMs of real time', () => {
  let ahead = 0;
  const r = rig(() => ahead);
  r.clock.advance(sweepMs);
  const digest = 'd';
  const ok = { ok: true as const, value: null };
  r.table.record({ clientId: 'a', seq: 1, first: false }, digest, ok);
  r.table.record({ clientId: 'x', seq: 1, first: false }, digest, ok); // a new client's call ran; its reply was lost
  ahead = 6 * 60_000;
  r.clock.advance(sweepMs); // a failover to a node whose clock is ahead, in effect
  // A third client arrives over maxClients (2): nobody has been idle evictableAfterMs (60 s) yet.
  const check = r.table.check({ clientId: 'y', seq: 1, first: true }, digest);
  assert.equal(check.kind, 'full', `a full table refuses the newcomer rather than evict a live client: ${JSON.stringify(check)}`);
  assert.equal(r.table.check({ clientId: 'x', seq: 1, first: true }, digest).kind, 'done', 'x\'s retry is answered from the table, not run again');
  r.sweeper.stop();
});
