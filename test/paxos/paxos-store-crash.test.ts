import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptLogError } from '../../src/env/durable-log.js';
import { silentLogger } from '../../src/env/logger.js';
import { FileLog } from '../../src/runtime/file-log.js';
import { nodeSnapshotFs } from '../../src/runtime/file-snapshot.js';
import { dataDirStorage } from '../../src/runtime/data-dir-storage.js';
import type { PaxosStoreMutations } from '../../src/paxos/paxos-store.js';
import { SimDisk, type DiskScheduler, simDiskStorage } from '../../tools/sim/disk.js';
import { Simulation } from '../../tools/sim/simulation.js';
import { withTempDir } from '../runtime/file-log-support.js';
import { SnapshotProcess, writeSteps } from '../runtime/file-snapshot-support.js';
import { Acked, Life, type Storage, assertHolds } from './paxos-store-support.js';

// Log compaction is crash safe: a node that dies at any moment of a compaction (old generation
// synced, new generation opened, snapshot written, old generations removed, records waiting
// behind the snapshot) restarts with every decided view and every acceptor promise and
// acceptance that was durable; and a data directory from before compaction (one paxos.log)
// loads as generation 0.

const seed = Number(process.env['SEED'] ?? 7);

describe('Paxos store: a crash at any moment of a compaction (simulated disk, unsynced writes lost)', () => {
  /** Steps every `gapMs` of virtual time; a crash at `crashAtMs`; then a restart, checked, and a second life that compacts again. */
  function run(crashAtMs: number, gapMs: number, steps: number, mutations?: PaxosStoreMutations): { compactions: number } {
    const sim = new Simulation({ seed });
    const disk = new SimDisk();
    let incarnation = 0;
    const storage = (): Storage => {
      const mine = ++incarnation;
      const sched: DiskScheduler = {
        get now() {
          return sim.now;
        },
        rng: sim.rng,
        at: (atMs, fn) => sim.scheduleAt(atMs, () => {
          if (incarnation === mine) fn();
        }),
      };
      return simDiskStorage(disk, sched);
    };
    const acked = new Acked();
    const first = new Life(storage(), acked, mutations);
    for (let k = 0; k < steps; k++) sim.scheduleAt(k * gapMs, () => {
      if (incarnation === 1) first.step(k, acked);
    });
    sim.runUntil(crashAtMs);
    const compactions = first.store.gen;
    incarnation++; // the process dies: its disk completions never come
    disk.crash(sim.rng);
    const second = new Life(storage(), acked);
    assertHolds(second, acked, `crash at ${crashAtMs} ms (seed ${seed})`);
    for (let k = 0; k < steps; k++) second.step(k, acked);
    sim.runUntilIdle();
    disk.crash(sim.rng);
    incarnation++;
    assertHolds(new Life(storage(), acked), acked, `second restart after a crash at ${crashAtMs} ms (seed ${seed})`);
    return { compactions };
  }

  const gapMs = 2;
  const steps = 90;

  test(`every crash moment, 0.5 ms apart, through a run of seven compactions (seed ${seed}; SEED=… replays)`, () => {
    // Proves the generation change keeps an unbroken snapshot + log on disk at every moment.
    let most = 0;
    for (let t = 0; t <= steps * gapMs + 60; t += 0.5) most = Math.max(most, run(t, gapMs, steps).compactions);
    assert.ok(most >= 6, `the runs compacted (up to generation ${most})`);
  });

  test(`the check bites: a store that drops the old log before its snapshot is durable loses views or refuses to start in some crash (seed ${seed})`, () => {
    // The mutation paxosSnapshotWithoutFsync: proves the test above can fail. A crash then leaves
    // a later generation without the one the surviving snapshot names (refused, naming the file)
    // or a snapshot without the views it should hold (the test's own check).
    let caught = 0;
    for (let t = 0; t <= steps * gapMs + 60; t += 0.5) {
      try {
        run(t, gapMs, steps, { paxosSnapshotWithoutFsync: true });
      } catch (err) {
        if (!(err instanceof assert.AssertionError) && !(err instanceof CorruptLogError)) throw err;
        caught++;
      }
    }
    assert.ok(caught > 0, 'some crash moment lost durable state, or left a log that cannot be trusted');
  });
});

describe('Paxos store: a crash at any step of a compaction (real files)', () => {
  /** A process's storage on `dir`; its snapshot file's file-system calls go through `proc`. */
  function fileStorage(dir: string, proc: SnapshotProcess | null): Storage {
    return dataDirStorage(dir, { logger: silentLogger, snapshotFs: proc?.fs ?? nodeSnapshotFs });
  }

  /** Runs script steps until `life` starts a compaction and `proc` has died in it (or the snapshot is durable). */
  async function untilCompacting(life: Life, acked: Acked, proc: SnapshotProcess, from: number): Promise<number> {
    let k = from;
    const gen = life.store.gen;
    while (proc.steps.length === 0 && k < from + 200) {
      life.step(k++, acked);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    for (let i = 0; i < 5; i++) life.step(k++, acked); // these wait behind the snapshot
    for (let wait = 0; wait < 200 && !proc.dead && life.store.gen === gen; wait++) await new Promise((resolve) => setTimeout(resolve, 5));
    return k;
  }

  for (const step of [...writeSteps, null]) {
    test(`the process dies at the snapshot write's ${step ?? 'end (no fault)'}: the restart holds everything durable`, async () => {
      // Proves each step of the atomic snapshot write leaves a loadable snapshot + log pair.
      await withTempDir(async (dir) => {
        const acked = new Acked();
        const proc = new SnapshotProcess();
        if (step !== null) proc.inject({ step, kind: 'die' });
        const first = new Life(fileStorage(dir, proc), acked);
        const next = await untilCompacting(first, acked, proc, 0);
        assert.ok(proc.steps.length > 0, 'a compaction started');
        if (step !== null) assert.ok(proc.dead, `died at ${step}`);
        await new Promise((resolve) => setTimeout(resolve, 20)); // its log syncs in flight land
        const second = new Life(fileStorage(dir, null), acked);
        assertHolds(second, acked, `died at ${step ?? 'no step'}`);
        for (let k = next; k < next + 30; k++) second.step(k, acked);
        await new Promise((resolve) => setTimeout(resolve, 100));
        await second.store.close();
        await first.store.close().catch(() => {}); // the dead process's files, released before the directory goes
        assert.ok(readdirSync(dir).filter((f) => f.endsWith('.log')).length <= 2, `old generations are removed: ${readdirSync(dir).join(' ')}`);
        const third = new Life(fileStorage(dir, null), acked);
        assertHolds(third, acked, `second restart, died at ${step ?? 'no step'}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        await third.store.close();
      });
    });
  }

  test('a data directory from before compaction (one paxos.log, no snapshot) loads as generation 0 and is compacted at start', async () => {
    // Proves the migration: the old log name is generation 0, and a long one is compacted at once.
    await withTempDir(async (dir) => {
      const acked = new Acked();
      const old = join(dir, 'old');
      mkdirSync(old);
      // Write a long plain log the way the previous version did: decide records only, no snapshot.
      const log = new FileLog(join(old, 'paxos.log'), { logger: silentLogger });
      log.load();
      const enc = new TextEncoder();
      for (let i = 2; i <= 40; i++) log.append(enc.encode(JSON.stringify({ kind: 'decide', instance: i, value: i % 2 === 0 ? ['a', 'b'] : ['a', 'b', 'c'] })));
      await log.close();
      for (let i = 2; i <= 40; i++) acked.decided.set(i, (i % 2 === 0 ? ['a', 'b'] : ['a', 'b', 'c']).join(','));
      copyFileSync(join(old, 'paxos.log'), join(dir, 'paxos.log'));
      rmSync(old, { recursive: true });
      const life = new Life(fileStorage(dir, null), acked);
      assert.equal(life.core.highestKnown, 40);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await life.store.close();
      assert.equal(life.store.gen, 1, 'compacted at start');
      assert.deepEqual(readdirSync(dir).sort(), ['paxos-1.log', 'paxos.snapshot']);
      const again = new Life(fileStorage(dir, null), acked);
      assertHolds(again, acked, 'after the migration');
      await again.store.close();
    });
  });
});
