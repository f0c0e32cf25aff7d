// Runs the shared DurableLog and Transport conformance suites against the simulator's
// implementations, so that the simulated world keeps the same contracts as production.
import { Simulation } from '../../tools/sim/simulation.js';
import { SimDurableLog, SimLogStore } from '../../tools/sim/disk.js';
import { durableLogConformance } from '../conformance/durable-log.suite.js';
import { transportConformance } from '../conformance/transport.suite.js';
import { simNetworkHarness } from './sim-network-harness.js';

durableLogConformance('simulated disk', async () => {
  const sim = new Simulation({ seed: 7 });
  const store = new SimLogStore();
  let incarnation = 0;
  return {
    open() {
      const mine = ++incarnation;
      return new SimDurableLog(store, {
        get now() {
          return sim.now;
        },
        rng: sim.rng,
        at: (atMs, fn) => sim.scheduleAt(atMs, () => {
          if (incarnation === mine) fn();
        }),
      });
    },
    crash() {
      incarnation++;
      store.crash(sim.rng);
    },
    async settle() {
      sim.runUntilIdle();
    },
    async dispose() {},
  };
});

transportConformance('simulated network', async () => simNetworkHarness(new Simulation({ seed: 11 })));
