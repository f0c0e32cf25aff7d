// The shared stream conformance suite, run against the simulator's streams (tools/sim/sim-streams.ts),
// so that the simulated world keeps the contract production keeps.
import type { Transport } from '../../src/env/transport.js';
import { Simulation } from '../../tools/sim/simulation.js';
import { streamConformance } from '../conformance/stream.suite.js';

streamConformance('simulated network', async (options) => {
  const sim = new Simulation({ seed: 13, transport: options });
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
    async down(t) {
      sim.nodes.get(t.self)?.crash('down');
    },
    isolate(t) {
      sim.network.split([t.self], [...sim.nodes.keys()].filter((id) => id !== t.self));
    },
    async until(condition, timeoutMs) {
      sim.runUntil(sim.now + timeoutMs, condition);
      return condition();
    },
    async dispose() {},
  };
});
