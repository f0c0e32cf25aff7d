/**
 * `synod/testkit`: test your own app the way synod tests itself.
 *
 *   import { simulateApp, simulateSeeds } from 'synod/testkit';
 *
 * `simulateApp` runs the app on synod's deterministic simulator (a whole cluster in one process,
 * virtual time, one seed for every random choice) under faults, with clients making the calls
 * you draw, and checks the result: replicas that agree, a cluster that serves again once faults
 * end, and a client history that is linearizable in a sequential model — by default the app
 * itself run one call at a time, or a model you write (`SequentialModel`). A failing seed replays
 * exactly; a violation comes with a sentence and a picture. `simulateSeeds` runs many seeds.
 */
export { simulateApp } from './simulate.js';
export { simulateSeeds } from './seeds.js';
export type { SeedsReport, SimulateSeedsOptions } from './seeds.js';
export { appAsModel, executeOnce } from './app-model.js';
export { TestkitUsageError } from './types.js';
export type {
  Call,
  ModelStep,
  Outcome,
  SeededRandom,
  SequentialModel,
  SimulateAppOptions,
  SimulatedClient,
  SimulationResult,
  Violation,
} from './types.js';
