import type { App } from '../rsm/app.js';
import type { SessionSpec } from '../node/sessions.js';
import { testApp } from './test-app.js';
import { lockApp, lockLimits } from './lock/lock-app.js';
import { lockSessions } from './lock/lock-sessions.js';

/** Apps built into the `synod` command, by the name `--app` takes. */
export const builtinApps: Readonly<Record<string, App<never>>> = {
  // `never`: the registry only hands an app to the node stack, which is generic over its state.
  test: testApp as unknown as App<never>,
  lock: lockApp as unknown as App<never>,
};

/**
 * What a node installs besides a built-in app whose callbacks go to clients (`CallbackHub`):
 * its client sessions (`SessionKeeper`), and the longest owner id its callback streams accept.
 */
export interface AppServices {
  readonly sessions?: SessionSpec<never>;
  readonly maxOwnerLength?: number;
}

export const builtinAppServices: Readonly<Record<string, AppServices>> = {
  lock: { sessions: lockSessions as unknown as SessionSpec<never>, maxOwnerLength: lockLimits.maxOwnerLength },
};
