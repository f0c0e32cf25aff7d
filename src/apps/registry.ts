import type { App } from '../rsm/app.js';
import { testApp } from './test-app.js';
import { lockApp } from '../lock/lock-app.js';

/** Apps built into the `synod` command, by the name `--app` takes. */
export const builtinApps: Readonly<Record<string, App<never>>> = {
  // `never`: the registry only hands an app to the node stack, which is generic over its state.
  test: testApp as unknown as App<never>,
  lock: lockApp as unknown as App<never>,
};
