// Runs the shared DurableLog and Transport conformance suites against the simulator's
// implementations, so that the simulated world keeps the same contracts as production.
import { Simulation } from '../../tools/sim/simulation.js';
import { SimDurableLog, SimLogStore } from '../../tools/sim/disk.js';
import type { Transport } from '../../src/env/transport.js';
import { durableLogConformance } from '../conformance/durable-log.suite.js';
import { transportConformance } from '../conformance/transport.suite.js';

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

transportConformance('simulated network', async () => {
  const sim = new Simulation({ seed: 11 });
  let count = 0;
  return {
    async node(): Promise<Transport> {
      const node = sim.addNode(`n${++count}`, () => ({}));
      node.start();
      return node.world!.transport;
    },
    async client() {
      const node = sim.addNode(`c${++count}`, () => ({}));
      node.start();
      return node.clientTransport;
    },
    async down(t: Transport) {
      sim.nodes.get(t.self)?.crash('down');
    },
    async until(condition, timeoutMs) {
      sim.runUntil(sim.now + timeoutMs, condition);
      return condition();
    },
    partition(a, b) {
      sim.network.split([a.self], [b.self]);
    },
    heal() {
      sim.network.heal();
    },
    async dispose() {},
  };
});
