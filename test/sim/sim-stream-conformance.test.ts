// The shared stream conformance suite, run against the simulator's streams (tools/sim/sim-streams.ts),
// so that the simulated world keeps the contract production keeps.
import { Simulation } from '../../tools/sim/simulation.js';
import { streamConformance } from '../conformance/stream.suite.js';
import { simNetworkHarness } from './sim-network-harness.js';

streamConformance('simulated network', async (options) => simNetworkHarness(new Simulation({ seed: 13, transport: options })));
