/**
 * The apps the fuzzer runs clusters of, with what it knows of each: its procedures (read from the
 * app), the argument names its procedures read (hints for the argument generator), its feeds, and
 * the well-behaved workload beside the fuzzing.
 */
import { kvApp } from '../../src/apps/kv/kv-app.js';
import { lockApp } from '../../src/apps/lock/lock-app.js';
import { testApp } from '../../src/apps/test-app.js';
import { type App, appProcedures } from '../../src/rsm/app.js';
import type { AppTarget } from './app-args.js';
import { type GoodWorkload, goodCounterWorkload, goodLockWorkload } from './good-client.js';
import { goodKvWorkload } from './good-kv.js';
import { kvScenarioRequest, kvShapedArgs } from './kv-args.js';

export interface FuzzApp {
  readonly target: AppTarget;
  readonly app: App<unknown>;
  readonly workload: GoodWorkload<unknown, unknown>;
}

export type FuzzAppName = 'lock' | 'test' | 'kv';
export const fuzzAppNames: readonly FuzzAppName[] = ['lock', 'test', 'kv'];

function fuzzApp<S, I, O>(app: App<S>, argNames: readonly string[], workload: GoodWorkload<I, O>, shaped: Pick<AppTarget, 'shapedArgs' | 'shapedRequest'> = {}): FuzzApp {
  const feeds = Object.fromEntries(Object.entries(app.feeds ?? {}).map(([name, feed]) => [name, (filter: unknown) => feed.filter(filter as never)]));
  return {
    target: { name: app.name, procs: appProcedures(app).sort(), argNames, feeds, ...shaped },
    app: app as unknown as App<unknown>,
    workload: workload as unknown as GoodWorkload<unknown, unknown>,
  };
}

/** The names the KV store's procedures read (docs/kv.md), txn's operation and compare fields among them. */
const kvArgNames = [
  'key', 'value', 'rangeEnd', 'prefix', 'lease', 'prevKv', 'compare', 'success', 'failure', 'revision', 'limit', 'keysOnly', 'countOnly',
  'ttl', 'id', 'keys', 'renewals', 'target', 'op', 'put', 'delete', 'range',
];

/** The lock service (what `synod lock-server` runs), the test app, and the KV store (`synod node --app kv`). */
export const fuzzApps: Readonly<Record<FuzzAppName, FuzzApp>> = {
  lock: fuzzApp(lockApp, ['lock', 'owner', 'token'], goodLockWorkload),
  test: fuzzApp(testApp, ['item', 'key', 'by', 'code'], goodCounterWorkload),
  kv: fuzzApp(kvApp, kvArgNames, goodKvWorkload, { shapedArgs: kvShapedArgs, shapedRequest: kvScenarioRequest }),
};
