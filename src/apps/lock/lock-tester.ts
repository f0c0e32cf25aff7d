/**
 * The lock tester (`synod lock-tester`): the five classic tests of a caching lock service
 * (`lock-tests.ts`), run against a live cluster by real `LockClient`s over gRPC, under a
 * process-wide `LockChecker` (`lock-checker.ts`).
 */
import type { ClientTls } from '../../runtime/tls-files.js';
import { randomUUID } from 'node:crypto';
import { RsmClient } from '../../client/rsm-client.js';
import { type Logger, silentLogger } from '../../env/logger.js';
import type { NodeId } from '../../env/types.js';
import { type LockClientOptions, withDefaults } from '../../options.js';
import { GrpcClientTransport } from '../../runtime/grpc-client-transport.js';
import { realClock } from '../../runtime/real-clock.js';
import type { CallbackSubscriberOptions } from './callback-subscriber.js';
import { GrpcLockClient } from './grpc-lock-client.js';
import { LockChecker } from './lock-checker.js';
import { type LockTest, type LockTestContext, TesterClient, lockTests } from './lock-tests.js';

/** Timing and size of a tester run. */
export interface LockTesterOptions {
  /**
   * A test still running after this long fails (its clients are closed). Default 60 s: test 2
   * takes six seconds by design (six holds of `holdMs`), the others well under one on a healthy
   * local cluster; the margin covers slow machines and a failover during the run.
   */
  readonly testTimeoutMs: number;
  /** How long each client of test 2 holds lock `a`. Default 1000 ms (the classic test). */
  readonly holdMs: number;
  /** Acquire/release rounds per user in tests 3 to 5. Default 10 (the classic tests). */
  readonly rounds: number;
  /**
   * Before the tests, the cluster must answer a `stat` within this long, or the run fails at
   * once (instead of every test waiting for its timeout). Default 10 s: a cluster that is
   * electing a primary answers within a few seconds.
   */
  readonly reachTimeoutMs: number;
}

export const defaultLockTesterOptions: LockTesterOptions = {
  testTimeoutMs: 60_000,
  holdMs: 1000,
  rounds: 10,
  reachTimeoutMs: 10_000,
};

export interface LockTesterConfig {
  /** The cluster's name (`synod@<first node>` by default for the nodes). */
  readonly cluster: string;
  /** Any members of the cluster. */
  readonly members: readonly NodeId[];
  /** Mutual TLS (`loadClientTls`); absent: plaintext. */
  readonly tls?: ClientTls;
  /** Which tests to run (1 to 5); default all, in order. */
  readonly tests?: readonly number[];
  /** Where the result lines go; default standard output. */
  readonly write?: (line: string) => void;
  readonly logger?: Logger;
  /** Owner ids are `<ownerPrefix>-t<test>.c<client>`; default `lock-tester-<random>`, unique per run. */
  readonly ownerPrefix?: string;
  /**
   * The owner id of the client named `client` (`t<test>.c<index>`), instead of the above. Only
   * for tests that break the setup on purpose (owners shared between clients), to watch the run
   * fail: the service binds an owner to the first client that uses it and refuses it to the
   * others (`owner-taken`).
   */
  readonly ownerOf?: (client: string) => string;
  readonly options?: Partial<LockTesterOptions>;
  readonly lockClient?: Partial<LockClientOptions>;
  readonly subscriber?: Partial<CallbackSubscriberOptions>;
}

export interface LockTestResult {
  readonly number: number;
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  /** Why it failed (the first violation or error). */
  readonly error?: string;
}

export interface LockTesterResult {
  readonly results: readonly LockTestResult[];
  readonly passed: number;
  readonly failed: number;
  /** The final line: `lock tester: N passed, 0 failed`, or `lock tester: FAILED …`. */
  readonly verdict: string;
  /** Every violation the checker saw. */
  readonly violations: readonly string[];
}

/** Period of the timer that keeps the process alive during a run (its length does not matter). */
const keepAliveIntervalMs = 1000;


/** A test ran past `testTimeoutMs`. */
class TestTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`did not finish within ${timeoutMs} ms`);
  }
}

const message = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/**
 * Runs the lock tests against the cluster, printing one line per test (number, name, ok/FAILED,
 * time) and then one final verdict line. Every test runs with fresh lock clients (fresh owner
 * ids), which give back what they hold when the test ends, so the next test starts clean. A
 * test fails when it throws (e.g. an acquire refused), when it runs past `testTimeoutMs`, when
 * the checker sees a violation while it runs, or when a lock is still held after it.
 */
export async function runLockTester(config: LockTesterConfig): Promise<LockTesterResult> {
  const options = withDefaults(defaultLockTesterOptions, config.options, 'lockTester');
  if (!Number.isInteger(options.rounds)) throw new RangeError(`lockTester.rounds must be a positive integer, got ${options.rounds}`);
  const write = config.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const logger = config.logger ?? silentLogger;
  const ownerPrefix = config.ownerPrefix ?? `lock-tester-${randomUUID().slice(0, 8)}`;
  const numbers = config.tests ?? lockTests.map((t) => t.number);
  for (const n of numbers) {
    if (!lockTests.some((t) => t.number === n)) throw new RangeError(`no lock test ${n}; there are tests 1 to ${lockTests.length}`);
  }
  const checker = new LockChecker();
  const transport = new GrpcClientTransport({ cluster: config.cluster, logger, tls: config.tls });
  const results: LockTestResult[] = [];
  // The clients' timers are unref'd (`realClock`), and a cluster that does not answer leaves
  // nothing else pending: this keeps the process alive until the run is over.
  const alive = setInterval(() => {}, keepAliveIntervalMs);
  try {
    const unreachable = await reach(config, transport, options.reachTimeoutMs);
    if (unreachable !== null) {
      const verdict = `lock tester: FAILED: the cluster did not answer within ${options.reachTimeoutMs} ms: ${unreachable}`;
      write(verdict);
      return { results, passed: 0, failed: numbers.length, verdict, violations: [] };
    }
    for (const n of numbers) {
      const test = lockTests.find((t) => t.number === n)!;
      const result = await runOne(test, config, options, checker, transport, ownerPrefix, logger);
      results.push(result);
      const secs = (result.ms / 1000).toFixed(2);
      write(`test ${test.number}: ${test.name} ... ${result.ok ? 'ok' : 'FAILED'} (${secs} s)${result.error === undefined ? '' : `: ${result.error}`}`);
    }
  } finally {
    clearInterval(alive);
    await transport.close();
  }
  const failed = results.filter((r) => !r.ok);
  const passed = results.length - failed.length;
  const verdict = failed.length === 0
    ? `lock tester: ${passed} passed, 0 failed`
    : `lock tester: FAILED: ${passed} passed, ${failed.length} failed (test${failed.length > 1 ? 's' : ''} ${failed.map((r) => r.number).join(', ')})`;
  write(verdict);
  return { results, passed, failed: failed.length, verdict, violations: [...checker.violations] };
}

/** Null once the cluster answered a `stat`; the last error if it did not within `timeoutMs`. */
async function reach(config: LockTesterConfig, transport: GrpcClientTransport, timeoutMs: number): Promise<string | null> {
  const rsm = new RsmClient({ members: config.members, transport, clock: realClock, logger: config.logger });
  try {
    await rsm.invoke('stat', { lock: 'a' }, { deadlineMs: timeoutMs });
    return null;
  } catch (err) {
    return message(err);
  } finally {
    rsm.close();
  }
}

async function runOne(
  test: LockTest,
  config: LockTesterConfig,
  options: LockTesterOptions,
  checker: LockChecker,
  transport: GrpcClientTransport,
  ownerPrefix: string,
  logger: Logger,
): Promise<LockTestResult> {
  const clients: TesterClient[] = [];
  const violationsBefore = checker.violations.length;
  const ctx: LockTestContext = {
    options,
    client: () => {
      const name = `t${test.number}.c${clients.length}`;
      const client = new GrpcLockClient({
        cluster: config.cluster,
        members: config.members,
        owner: config.ownerOf?.(name) ?? `${ownerPrefix}-${name}`,
        transport,
        logger,
        lockClient: config.lockClient,
        subscriber: config.subscriber,
      });
      const c = new TesterClient(name, client, checker);
      clients.push(c);
      return c;
    },
  };
  const started = performance.now();
  let error: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const run = test.run(ctx);
    run.catch(() => {}); // after a timeout its rejection (closed clients) is expected
    await Promise.race([
      run,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TestTimeoutError(options.testTimeoutMs)), options.testTimeoutMs);
      }),
    ]);
  } catch (err) {
    error = err instanceof TestTimeoutError ? err.message : message(err);
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - started;
  const violations = checker.violations.slice(violationsBefore);
  const left = checker.held().filter((h) => clients.some((c) => c.name === h.holder.client));
  if (violations.length > 0) {
    error = violations.length === 1 ? violations[0] : `${violations[0]} (and ${violations.length - 1} more violation${violations.length > 2 ? 's' : ''})`;
  } else if (error === undefined && left.length > 0) {
    error = `still held after the test: ${left.map((h) => `${h.lock} by ${h.holder.client}/${h.holder.user}`).join(', ')}`;
  }
  await Promise.all(clients.map((c) => c.close()));
  for (const c of clients) checker.forgetClient(c.name);
  return { number: test.number, name: test.name, ok: error === undefined, ms, error };
}
