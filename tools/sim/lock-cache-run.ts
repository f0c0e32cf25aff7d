import type { RsmClient } from '../../src/client/rsm-client.js';
import type { ClientTransport } from '../../src/env/transport.js';
import { lockLimits, type LockState, lockApp } from '../../src/apps/lock/lock-app.js';
import { StreamCallbackSubscriber } from '../../src/apps/lock/callback-subscriber.js';
import { LockClient, type LockRpc } from '../../src/apps/lock/lock-client.js';
import type { LockClientMutations } from '../../src/apps/lock/lock-client-core.js';
import { LockClientClosedError, LockLostError, LockUsageError } from '../../src/apps/lock/lock-errors.js';
import { lockSessions } from '../../src/apps/lock/lock-sessions.js';
import { lockCalls, lockInternalCalls } from '../lincheck/mappings.js';
import { type LockInput, type LockModelState, type LockOutput, lockModel, lockTokenConflict } from '../lincheck/models.js';
import { LocalHoldChecker } from './checkers/local-holds-checker.js';
import { type ClientMachine, type StackRunOptions, type Workload, type WorkloadRun, rsmRunBounds, runStackSimulation } from './rsm-run.js';
import { Prng } from './prng.js';
import type { RunResult } from './run-result.js';

export interface LockCacheRunOptions extends StackRunOptions<LockInput, LockOutput> {
  /** Test-only lock client breakage, to prove the local-holds check bites. */
  readonly lockClientMutations?: LockClientMutations;
}

/** The shape of a lock-cache run: counts drawn per run, pauses and holds in virtual ms. */
export const lockCacheRunBounds = {
  /** How many locks the clients contend for (few: contention makes revokes). */
  locks: [1, 3] as const,
  /** Local users per lock client. */
  usersPerClient: [2, 3] as const,
  /** How long a local user holds a lock it got. */
  holdMs: [0, 20] as const,
  /** Pause between a user's lock cycles. */
  pauseMs: [0, 30] as const,
  /**
   * Session timeout S of the serving primaries, drawn per run: short enough that a client cut off
   * for a while really loses its session (its lock client says `lost`, a node expires it, and
   * others get its locks after the lock-delay). The nodes' expiries and ends of delay are in the
   * checked history (`lockInternalCalls`).
   */
  sessionTimeoutMs: [1000, 5000] as const,
  /** The keepalive interval as a share of S: below S/4 (`callbackOptions` requires it), so a session outlives a few lost keepalives. */
  keepaliveShareOfSession: [0.1, 0.22] as const,
  /** Lock-delay: how long a lock an expiry freed is granted to nobody. */
  lockDelayMs: [200, 2000] as const,
  /** Weight of the fault that cuts one client off from some or all replicas (its calls and its callback stream). */
  clientCutWeight: 1,
  /** How long such a cut lasts: sometimes past the session timeout. */
  clientCutMs: [200, 7000] as const,
  /**
   * Share of runs where, once the faults end, one client is cut off from every replica for the
   * session timeout and `sessionCutExtraMs` more: the settled primary then holds its lease long
   * enough to expire that client's session (its lock client says `lost` first), and the others get
   * its locks after the lock-delay. (During the faults the primary rarely keeps its lease for a
   * whole session timeout.) The cut ends well within the liveness bound.
   */
  sessionCutShare: 0.6,
  sessionCutExtraMs: [1500, 4000] as const,
};

/** The callback options of a lock-cache run, drawn from its seed (a stream of its own: the rest of the run's shape stays as it was). */
export function drawSessionOptions(seed: number): { sessionTimeoutMs: number; keepaliveIntervalMs: number; lockDelayMs: number } {
  const rng = new Prng(seed ^ 0x5e551017);
  const sessionTimeoutMs = Math.round(rng.uniform(...lockCacheRunBounds.sessionTimeoutMs));
  const keepaliveIntervalMs = Math.round(sessionTimeoutMs * rng.uniform(...lockCacheRunBounds.keepaliveShareOfSession));
  const lockDelayMs = Math.round(rng.uniform(...lockCacheRunBounds.lockDelayMs));
  return { sessionTimeoutMs, keepaliveIntervalMs, lockDelayMs };
}

/** Figures of one lock-cache run. */
interface LockCacheCounts {
  users: number;
  cycles: number;
  clientCuts: number;
  /** Clients cut off past their session timeout once the faults ended (`sessionCutShare`). */
  sessionCuts: number;
  userErrors: number;
  /** Acquires the lock clients sent, and those the server granted (the rest of the local grants came from the cache). */
  serverAcquires: number;
  serverGrants: number;
  /** Callback streams the subscribers opened, that the servers accepted, and callbacks received on them. */
  streamsOpened: number;
  streamsAccepted: number;
  callbacks: number;
}

/**
 * The caching lock client's workload: every simulated client machine runs the real `LockClient`
 * (its cache, local users, revoke and retry over a `StreamCallbackSubscriber` on the simulated
 * transport, re-subscription after a failover) over its `RsmClient`, with 2–3 local users that
 * each loop: acquire a random lock, hold it a while, release it. Every server call the lock
 * clients make is recorded and checked against `lockModel` (and `lockTokenConflict`); every local
 * hold is checked by `LocalHoldChecker`. Besides the stack's faults, clients are cut off from
 * replicas for a while. Liveness counts lock cycles of local users. Replica checks: as the lock run.
 */
function lockCacheWorkload(seed: number, mutations: LockClientMutations | undefined): Workload<LockState, LockModelState, LockInput, LockOutput> {
  /** When the held session cut (`afterFaults`) lifts; 0: none. */
  let cutLiftsAtMs = 0;
  const counts: LockCacheCounts = {
    users: 0, cycles: 0, clientCuts: 0, sessionCuts: 0, userErrors: 0, serverAcquires: 0, serverGrants: 0, streamsOpened: 0, streamsAccepted: 0, callbacks: 0,
  };
  const session = drawSessionOptions(seed);
  const clients: string[] = [];
  let locks: readonly string[] = [];
  let holds: LocalHoldChecker | null = null;
  return {
    name: 'lock-cache',
    app: lockApp,
    calls: lockCalls,
    model: lockModel,
    internalCalls: lockInternalCalls(() => locks),
    checkHistory: lockTokenConflict,
    progressUnit: 'lock cycles',
    callbacks: { sessions: lockSessions, maxOwnerLength: lockLimits.maxOwnerLength, options: session },
    setUp(run) {
      locks = ['a', 'b', 'c'].slice(0, run.sim.rng.between(...lockCacheRunBounds.locks)).map((l) => `lock-${l}`);
      holds = new LocalHoldChecker(run.sim);
    },
    startClient(rsm, run, machine) {
      clients.push(rsm.clientId);
      const lock = cachingClient(rsm, run, machine, mutations, counts);
      const users = run.sim.rng.between(...lockCacheRunBounds.usersPerClient);
      for (let u = 0; u < users; u++) new LocalUser(`u${u}`, lock, locks, run, holds!, counts).start();
      counts.users += users;
    },
    addFaults(faults, run) {
      const { sim } = run;
      faults.addKind(lockCacheRunBounds.clientCutWeight, () => {
        const client = sim.rng.pick(clients);
        const cut = sim.rng.chance(0.5) ? run.servers : run.servers.filter(() => sim.rng.chance(0.5));
        if (cut.length === 0) return;
        counts.clientCuts++;
        sim.network.split([client], cut);
        sim.schedule(sim.rng.uniform(...lockCacheRunBounds.clientCutMs), () => sim.network.heal());
      });
    },
    afterFaults(run) {
      const { sim } = run;
      if (!sim.rng.chance(lockCacheRunBounds.sessionCutShare)) return;
      const client = sim.rng.pick(clients);
      const ms = session.sessionTimeoutMs + sim.rng.uniform(...lockCacheRunBounds.sessionCutExtraMs);
      counts.sessionCuts++;
      sim.log(`cut ${client} off from every replica for ${Math.round(ms)} ms (session timeout ${session.sessionTimeoutMs} ms)`);
      // Held: the other faults' heals (some still scheduled) must not end it early.
      const lift = sim.network.holdCut([client], run.servers);
      sim.schedule(ms, lift);
      cutLiftsAtMs = sim.now + ms;
    },
    faultsOverAtMs: () => cutLiftsAtMs,
    checkFinal(states, snapshots, run) {
      run.rsm.checkEqualState(snapshots, new Map([...states].map(([id, s]) => [id, `${s.locks.size} locks, last token ${s.lastToken}`])));
    },
    stats: () => ({ locks: locks.length, ...counts, localGrants: holds?.grants ?? 0, overlaps: holds?.overlaps ?? 0, holdViolations: holds?.violations ?? 0, lostHolds: holds?.lost ?? 0 }),
  };
}

/**
 * The lock client of one machine: its owner id is its `RsmClient`'s client id; callbacks come
 * over a `StreamCallbackSubscriber` on the machine's transport, following that client's primary
 * guess. Both are watched for the run's figures only.
 */
function cachingClient(rsm: RsmClient, run: WorkloadRun, machine: ClientMachine, mutations: LockClientMutations | undefined, counts: LockCacheCounts): LockClient {
  const { world } = machine;
  const transport: ClientTransport = {
    connect: (codec, receive, failed) => machine.transport.connect(codec, receive, failed),
    openStream(codec, server, request, handlers) {
      counts.streamsOpened++;
      return machine.transport.openStream(codec, server, request, {
        accepted: () => {
          counts.streamsAccepted++;
          handlers.accepted();
        },
        message: (m) => {
          counts.callbacks++;
          handlers.message(m);
        },
        ended: (end) => handlers.ended(end),
      });
    },
    close: () => machine.transport.close(),
  };
  const server: LockRpc = {
    clientId: rsm.clientId,
    submit(proc, args, options, done) {
      if (proc === 'acquire') counts.serverAcquires++;
      rsm.submit(proc, args, options, (r) => {
        if (proc === 'acquire' && r.ok && typeof r.value === 'object' && r.value !== null && !Array.isArray(r.value) && r.value['granted'] === true) counts.serverGrants++;
        done(r);
      });
    },
  };
  const subscriber = new StreamCallbackSubscriber({ transport, members: run.servers, primary: () => rsm.core.primary, clock: world.clock, logger: world.logger });
  return new LockClient({
    owner: rsm.clientId,
    rsm: server,
    subscriptions: subscriber,
    clock: world.clock,
    logger: world.logger,
    options: { callDeadlineMs: rsmRunBounds.clientDeadlineMs },
    mutations,
  });
}

/**
 * One local user of a lock client: acquire a random lock, hold it, release it, pause, again,
 * until the run stops issuing. Holds are told to the checker (from the grant until just before
 * the release). An acquire or release that fails is counted: the lock client keeps waiting while
 * the cluster is unreachable, so only a broken client (or a mutation) fails one.
 */
class LocalUser {
  constructor(
    readonly name: string,
    readonly client: LockClient,
    readonly locks: readonly string[],
    readonly run: WorkloadRun,
    readonly holds: LocalHoldChecker,
    readonly counts: LockCacheCounts,
  ) {}

  start(): void {
    this.#after(this.run.sim.rng.uniform(0, 100), () => this.#cycle());
  }

  #after(delayMs: number, then: () => void): void {
    this.run.sim.schedule(delayMs, then);
  }

  #cycle(): void {
    const { sim } = this.run;
    if (!this.run.issuing()) return;
    const lock = sim.rng.pick(this.locks);
    const owner = this.client.owner;
    const startedMs = sim.now;
    this.client.submitAcquire(lock, this.name, (r) => {
      if (!r.ok) return this.#failed('acquire', lock, r.error);
      this.holds.granted(lock, owner, this.name, r.token);
      // The hold ends when the lock client says the grant is lost (the user stops using it then).
      let lost = false;
      r.signal.addEventListener('abort', () => {
        lost = true;
        this.holds.lostHold(lock, owner, this.name);
      });
      this.#after(sim.rng.uniform(...lockCacheRunBounds.holdMs), () => {
        if (!lost) this.holds.released(lock, owner, this.name);
        this.client.submitRelease(lock, this.name, (rr) => {
          if (!rr.ok && !(rr.error instanceof LockLostError && lost)) return this.#failed('release', lock, rr.error);
          this.counts.cycles++;
          this.run.progressed(owner, startedMs);
          this.#after(sim.rng.uniform(...lockCacheRunBounds.pauseMs), () => this.#cycle());
        });
      });
    });
  }

  /** A failed local call ends this user's loop; a usage error or any other is a failure of the run, unless the client was closed. */
  #failed(what: string, lock: string, error: Error): void {
    if (error instanceof LockClientClosedError) return;
    this.counts.userErrors++;
    const kind = error instanceof LockUsageError ? 'a usage error' : error.name;
    this.run.sim.fail(`lock client: ${this.client.owner}/${this.name}'s ${what} of ${lock} failed with ${kind}: ${error.message}`);
  }
}

/**
 * One randomized run of the whole stack with the lock service and caching lock clients (faults,
 * settling and liveness as in `runRsmSimulation`, plus clients cut off from replicas): local users
 * contend for a few locks through their lock clients; the clients' server calls must linearize in
 * `lockModel`, and no two local users of different clients may hold a lock at once unless the
 * later one holds it with a higher fencing token.
 */
export function runLockCacheSimulation(opts: LockCacheRunOptions): RunResult {
  return runStackSimulation(lockCacheWorkload(opts.seed, opts.lockClientMutations), opts);
}
