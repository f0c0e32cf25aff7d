import type { App } from '../rsm/app.js';
import type { NodeApp } from '../node/synod-node.js';
import type { SessionSpec } from '../node/sessions.js';
import { testApp } from './test-app.js';
import { lockApp, lockLimits } from './lock/lock-app.js';
import { lockSessions } from './lock/lock-sessions.js';
import { kvApp } from './kv/kv-app.js';
import { kvLeaseSpec } from './kv/kv-lease-spec.js';
import type { LeaseSpec } from '../node/lease-keeper.js';

/**
 * Apps built into the `synod` command, by the name `--app` takes (each app's own `name`), with
 * what a node serves for them besides the app: the lock service's client sessions
 * (`SessionKeeper`) and the longest owner id its callback streams accept; the KV store and its leases (`LeaseKeeper`).
 */
export const builtinApps: Readonly<Record<string, NodeApp<unknown>>> = {
  // `unknown`: the registry only hands an app to the node, which never looks inside its state.
  [testApp.name]: { app: testApp as unknown as App<unknown> },
  [lockApp.name]: {
    app: lockApp as unknown as App<unknown>,
    sessions: lockSessions as unknown as SessionSpec<unknown>,
    maxOwnerLength: lockLimits.maxOwnerLength,
  },
  [kvApp.name]: { app: kvApp as unknown as App<unknown>, leases: kvLeaseSpec as unknown as LeaseSpec<unknown> },
};
