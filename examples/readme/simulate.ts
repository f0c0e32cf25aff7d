import { type Call, type SeededRandom, simulateSeeds } from 'synod/testkit';
import counters from './counter-app.js';

// Each client's next call, drawn from the seeded rng only: a seed replays a run exactly.
const nextCall = (rng: SeededRandom): Call => {
  const name = rng.pick(['visits', 'likes']);
  return rng.chance(0.3) ? { proc: 'get', args: { name } } : { proc: 'add', args: { name } };
};

// 100 runs on the deterministic simulator (3-5 replicas; crashes, pauses, partitions, lost and
// duplicated messages). In each, the replicas must agree, the cluster must serve again once
// faults end, and the client history must be linearizable in one copy of the app run call by
// call (or pass `model` for a specification of your own).
const report = simulateSeeds({ app: counters, nextCall, seeds: Number(process.argv[2] ?? 100) });
process.exitCode = report.ok ? 0 : 1; // failing seeds are printed; simulateApp({ …, seed }) replays one
