import { clientTlsOf, clientTlsOptions, clientTlsUsage } from './tls-flags.js';
import { type Command, UsageError, checkedAddress, clusterOption, fail, noMorePositionals, parse } from './args.js';

export const lockTesterUsage = `  synod lock-tester HOST:PORT[,HOST:PORT...] [TEST] [--cluster NAME] [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]
  Runs the lock tester (src/apps/lock/lock-tester.ts) against a running lock service: TEST 1 to
  5, default all. Without --cluster, the cluster's name is found as synod status finds it, from
  the first address given that answers. Prints a line per test and one final verdict line.
${clientTlsUsage}
  Exit status: 0 when every test passed; 1 when one failed or the cluster cannot be reached;
  2 for usage errors.`;

/** `synod lock-tester`. */
async function runLockTesterCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { cluster: { type: 'string' }, ...clientTlsOptions });
  const [list, test] = positionals;
  if (list === undefined) throw new UsageError('lock-tester needs the cluster\'s addresses (HOST:PORT[,HOST:PORT...])');
  noMorePositionals(positionals, 2);
  const members = list.split(',').map((a) => checkedAddress(a, 'address'));
  let tests: number[] | undefined;
  if (test !== undefined) {
    if (!/^[1-5]$/.test(test)) throw new UsageError(`TEST must be 1 to 5, got ${test}`);
    tests = [Number(test)];
  }
  const given = clusterOption(values['cluster'] as string | undefined);
  const tls = clientTlsOf(values);
  process.exitCode = 1; // should the run end without a verdict, it did not pass
  const { findClusterName } = await import('./admin.js');
  let cluster: string;
  try {
    cluster = given ?? await findClusterName(members, tls);
  } catch (err) {
    return fail((err as Error).message, 1);
  }
  const { runLockTester } = await import('../apps/lock/lock-tester.js');
  const result = await runLockTester({ cluster, members, tests, tls });
  process.exit(result.failed === 0 && result.passed > 0 ? 0 : 1);
}

export const lockTesterCommand: Command = { name: 'lock-tester', usage: lockTesterUsage, run: runLockTesterCommand };
