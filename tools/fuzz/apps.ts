/**
 * The apps the fuzzer runs clusters of, with what it knows of each: its procedures (read from the
 * app), the argument names its procedures read (hints for the argument generator) and the
 * well-behaved workload beside the fuzzing.
 */
import { lockApp } from '../../src/apps/lock/lock-app.js';
import { testApp } from '../../src/apps/test-app.js';
import { type App, appProcedures } from '../../src/rsm/app.js';
import type { AppTarget } from './app-args.js';
import { type GoodWorkload, goodCounterWorkload, goodLockWorkload } from './good-client.js';

export interface FuzzApp {
  readonly target: AppTarget;
  readonly app: App<unknown>;
  readonly workload: GoodWorkload<unknown, unknown>;
}

function fuzzApp<S, I, O>(app: App<S>, argNames: readonly string[], workload: GoodWorkload<I, O>): FuzzApp {
  return {
    target: { name: app.name, procs: appProcedures(app).sort(), argNames },
    app: app as unknown as App<unknown>,
    workload: workload as unknown as GoodWorkload<unknown, unknown>,
  };
}

/** The lock service (what `synod lock-server` runs) and the test app. */
export const fuzzApps: Readonly<Record<'lock' | 'test', FuzzApp>> = {
  lock: fuzzApp(lockApp, ['lock', 'owner', 'token'], goodLockWorkload),
  test: fuzzApp(testApp, ['item', 'key', 'by', 'code'], goodCounterWorkload),
};
