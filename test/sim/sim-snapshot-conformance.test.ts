// Runs the shared SnapshotFile conformance suite against the simulator's snapshot file, so that
// the simulated disk keeps the same contract as production's FileSnapshot.
import { Simulation } from '../../tools/sim/simulation.js';
import { type DiskScheduler, SimSnapshotFile, SimSnapshotStore } from '../../tools/sim/disk.js';
import { snapshotFileConformance } from '../conformance/snapshot-file.suite.js';

snapshotFileConformance('simulated disk', async () => {
  const sim = new Simulation({ seed: 13 });
  const store = new SimSnapshotStore();
  let incarnation = 0;
  /** A process's scheduler: its events die with it, as `makeNodeWorld`'s do. */
  const scheduler = (): DiskScheduler => {
    const mine = ++incarnation;
    return {
      get now() {
        return sim.now;
      },
      rng: sim.rng,
      at: (atMs, fn) => sim.scheduleAt(atMs, () => {
        if (incarnation === mine) fn();
      }),
    };
  };
  const crash = (): void => {
    incarnation++;
    store.crash();
  };
  return {
    open: () => new SimSnapshotFile(store, scheduler()),
    crash,
    async crashDuringWrite(file, data) {
      // Still in flight: a simulated write becomes durable only after its disk latency.
      file.write(data, () => {});
      crash();
    },
    async settle() {
      sim.runUntilIdle();
    },
    async dispose() {},
  };
});
