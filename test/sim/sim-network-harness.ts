// One harness over a simulated network for the shared transport and stream conformance suites
// (test/conformance/): nodes and client machines added on demand, crashes, partitions, and time
// run until a condition holds.
import type { Transport } from '../../src/env/transport.js';
import type { Simulation } from '../../tools/sim/simulation.js';

export function simNetworkHarness(sim: Simulation) {
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
    async until(condition: () => boolean, timeoutMs: number) {
      sim.runUntil(sim.now + timeoutMs, condition);
      return condition();
    },
    /** Cuts `t` off from every other node. */
    isolate(t: Transport) {
      sim.network.split([t.self], [...sim.nodes.keys()].filter((id) => id !== t.self));
    },
    partition(a: Transport, b: Transport) {
      sim.network.split([a.self], [b.self]);
    },
    heal() {
      sim.network.heal();
    },
    async dispose() {},
  };
}
