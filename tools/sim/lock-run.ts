import { AppRejectedError } from '../../src/client/errors.js';
import type { CallResult } from '../../src/client/client-core.js';
import type { RsmClient } from '../../src/client/rsm-client.js';
import { lockCalls } from '../lincheck/mappings.js';
import { type LockInput, type LockModelState, type LockOutput, lockModel, lockTokenConflict } from '../lincheck/models.js';
import { type LockAppMutations, type LockState, createLockApp, lockApp } from '../../src/apps/lock/lock-app.js';
import type { Json } from '../../src/rsm/app.js';
import type { Prng } from './prng.js';
import { type StackRunOptions, type Workload, type WorkloadRun, rsmRunBounds, runStackSimulation } from './rsm-run.js';
import type { RunResult } from './run-result.js';

export interface LockRunOptions extends StackRunOptions<LockInput, LockOutput> {
  /** Test-only breakage of the lock service, to prove the owners check bites. */
  readonly lockAppMutations?: LockAppMutations;
}

/** The lock clients' choices (shares of 1) and pauses (virtual ms). */
export const lockRunBounds = {
  /** How many locks the clients contend for. */
  locks: [2, 3] as const,
  /** Share of a client's turns spent on a stat of a random lock instead of a lock cycle. */
  statShare: 0.15,
  /** Share of grants followed by a stat of the held lock before its release. */
  statWhileHeldShare: 0.3,
  /**
   * Share of a client's turns spent trying to take what another client's owner has: a stat of a
   * random lock, then, if another owner holds it, a release naming that owner and the grant's
   * token (both public through stat), a giveBack naming that owner, or an expire of it. Every
   * one must be refused (`owner-taken`, `internal-only`; `not-held` or nothing given back once
   * the owner let go meanwhile).
   */
  theftShare: 0.1,
  /** Share of unknown outcomes resolved with a stat (the rest by sending the call again). */
  statToResolveShare: 0.5,
  /** A queued client asks again after this long. */
  pollMs: [5, 60] as const,
  /** Pause between a client's calls. */
  pauseMs: [0, 30] as const,
};

/** Figures of one lock run, counted by its clients. */
interface LockCounts {
  calls: number;
  granted: number;
  queued: number;
  cycles: number;
  stats: number;
  unknown: number;
  /** Theft attempts made, and those refused as they must be. */
  thefts: number;
  theftsRefused: number;
  /** Theft attempts the history does not record (giveBack, expire) still in flight. */
  unrecordedRunning: number;
}

const objectOf = (v: Json): Record<string, Json> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {});

/**
 * One lock client of a run: its owner id is its client id (so the service binds each owner to
 * its own client), and it loops one
 * call at a time, with raw `RsmClient` calls (no caching, no callbacks). A turn is either a stat
 * of a random lock or a lock cycle: acquire a random lock (asked again after a short pause while
 * queued: the FIFO queue grants it once the client is first in line), maybe stat it, release it
 * with its token. An acquire or release whose outcome is unknown (deadline
 * passed) is settled before the client goes on, by a stat or by sending the call again (a second
 * acquire by the holder returns the same grant; a second release is refused `not-held` once the
 * first took effect). A stat settles it because a later call of the client, once executed, keeps
 * the earlier one from ever executing (the client table). So a client never forgets a lock it
 * holds or a queue it is in, and nobody waits forever behind it. Now and then a turn is a theft
 * attempt instead (`lockRunBounds.theftShare`): any theft the service lets through fails the run.
 */
class LockClient {
  readonly #client: RsmClient;
  readonly #owner: string;
  readonly #locks: readonly string[];
  readonly #run: WorkloadRun;
  readonly #rng: Prng;
  readonly #counts: LockCounts;

  constructor(client: RsmClient, locks: readonly string[], run: WorkloadRun, counts: LockCounts) {
    this.#client = client;
    this.#owner = client.clientId;
    this.#locks = locks;
    this.#run = run;
    this.#rng = run.sim.rng;
    this.#counts = counts;
  }

  start(): void {
    this.#run.sim.schedule(this.#rng.uniform(0, 100), () => this.#turn());
  }

  /** Runs `then` after a pause of `[lo, hi]` ms (default: between calls). */
  #after(then: () => void, [lo, hi]: readonly [number, number] = lockRunBounds.pauseMs): void {
    this.#run.sim.schedule(this.#rng.uniform(lo, hi), then);
  }

  #call(proc: 'acquire' | 'release' | 'stat' | 'giveBack' | 'expire', args: Json, then: (r: CallResult) => void): void {
    if (!this.#run.issuing()) return;
    this.#counts.calls++;
    this.#client.submit(proc, args, { deadlineMs: rsmRunBounds.clientDeadlineMs }, (r) => {
      if (!r.ok && !(r.error instanceof AppRejectedError)) this.#counts.unknown++;
      then(r);
    });
  }

  #turn(): void {
    if (this.#rng.chance(lockRunBounds.theftShare)) {
      this.#steal(this.#rng.pick(this.#locks), () => this.#after(() => this.#turn()));
      return;
    }
    if (this.#rng.chance(lockRunBounds.statShare)) {
      this.#stat(this.#rng.pick(this.#locks), () => this.#after(() => this.#turn()));
      return;
    }
    const lock = this.#rng.pick(this.#locks);
    this.#acquire(lock, this.#run.sim.now);
  }

  /** Stats `lock`; `then` gets its reply, or null when the outcome is unknown. */
  #stat(lock: string, then: (reply: Record<string, Json> | null) => void): void {
    this.#counts.stats++;
    this.#call('stat', { lock }, (r) => then(r.ok ? objectOf(r.value) : null));
  }

  /** Asks for `lock` (in the cycle begun at `startedMs`) until granted. */
  #acquire(lock: string, startedMs: number): void {
    this.#call('acquire', { lock, owner: this.#owner }, (r) => {
      const reply = r.ok ? objectOf(r.value) : null;
      if (reply?.['granted'] === true && typeof reply['token'] === 'number') {
        this.#counts.granted++;
        this.#holding(lock, reply['token'], startedMs);
      } else if (reply?.['granted'] === false) {
        this.#counts.queued++;
        this.#after(() => this.#acquire(lock, startedMs), lockRunBounds.pollMs);
      } else {
        this.#after(() => this.#settleAcquire(lock, startedMs));
      }
    });
  }

  /** After an acquire with unknown outcome: holder, queued, or neither? */
  #settleAcquire(lock: string, startedMs: number): void {
    if (!this.#rng.chance(lockRunBounds.statToResolveShare)) {
      this.#acquire(lock, startedMs); // the holder is answered its grant again; a waiter stays in line
      return;
    }
    this.#stat(lock, (s) => {
      if (s === null) this.#after(() => this.#settleAcquire(lock, startedMs));
      else if (s['holder'] === this.#owner && typeof s['token'] === 'number') this.#holding(lock, s['token'], startedMs);
      else this.#after(() => this.#acquire(lock, startedMs)); // queued (ask again) or never took effect (ask now)
    });
  }

  #holding(lock: string, token: number, startedMs: number): void {
    if (this.#rng.chance(lockRunBounds.statWhileHeldShare)) {
      this.#after(() => this.#stat(lock, () => this.#after(() => this.#release(lock, token, startedMs))));
    } else {
      this.#after(() => this.#release(lock, token, startedMs));
    }
  }

  #release(lock: string, token: number, startedMs: number): void {
    this.#call('release', { lock, owner: this.#owner, token }, (r) => {
      // Refused `not-held`: an earlier release with unknown outcome took effect.
      if (r.ok || (r.error instanceof AppRejectedError && r.error.code === 'not-held')) this.#released(startedMs);
      else this.#after(() => this.#settleRelease(lock, token, startedMs));
    });
  }

  /** After a release with unknown outcome: still the holder? */
  #settleRelease(lock: string, token: number, startedMs: number): void {
    if (!this.#rng.chance(lockRunBounds.statToResolveShare)) {
      this.#release(lock, token, startedMs);
      return;
    }
    this.#stat(lock, (s) => {
      if (s === null) this.#after(() => this.#settleRelease(lock, token, startedMs));
      else if (s['holder'] === this.#owner) this.#after(() => this.#release(lock, token, startedMs));
      else this.#released(startedMs);
    });
  }

  /**
   * Looks at `lock`; if another owner holds it, names that owner in a release (with the grant's
   * token), a giveBack or an expire, and fails the run if the service executed it as asked.
   */
  #steal(lock: string, then: () => void): void {
    this.#stat(lock, (s) => {
      const victim = s?.['holder'];
      const token = s?.['token'];
      if (typeof victim !== 'string' || victim === this.#owner || typeof token !== 'number') return then();
      const roll = this.#rng.next();
      const [proc, args]: ['release' | 'giveBack' | 'expire', Json] = roll < 0.6 ? ['release', { lock, owner: victim, token }]
        : roll < 0.8 ? ['giveBack', { owner: victim }] : ['expire', { owner: victim }];
      if (!this.#run.issuing()) return; // as #call: the run stopped its clients
      this.#counts.thefts++;
      const recorded = proc === 'release';
      if (!recorded) this.#counts.unrecordedRunning++;
      this.#call(proc, args, (r) => {
        if (!recorded) this.#counts.unrecordedRunning--;
        const refusal = !r.ok && r.error instanceof AppRejectedError ? r.error.code : null;
        const nothing = r.ok && proc === 'giveBack' && objectOf(r.value)['released'] === 0 && objectOf(r.value)['dequeued'] === 0;
        if (refusal === 'owner-taken' || refusal === 'internal-only' || (refusal === 'not-held' && proc === 'release') || nothing) {
          this.#counts.theftsRefused++;
        } else if (r.ok) {
          this.#run.sim.fail(`owners: client ${this.#owner}'s ${proc} ${JSON.stringify(args)} naming another client's owner was executed: ${JSON.stringify(r.value)}`);
        } else if (refusal !== null) {
          this.#run.sim.fail(`owners: client ${this.#owner}'s ${proc} ${JSON.stringify(args)} was refused ${refusal}, not as another client's owner`);
        } // else the outcome is unknown (deadline): nothing to check
        then();
      });
    });
  }

  #released(startedMs: number): void {
    this.#counts.cycles++;
    this.#run.progressed(this.#owner, startedMs);
    this.#after(() => this.#turn());
  }
}

/**
 * The lock service's workload: `lockApp` on the replicas, 2–5 `LockClient`s contending for 2–3
 * locks (and trying to take each other's), their history checked against `lockModel` (no
 * session ever expires: the run has no session keeper; every lock starts free), every theft
 * attempt checked to be refused. Liveness counts lock cycles. Replica checks: the same
 * request at every viewstamp (as it happens) and equal state on the final view's members.
 */
function lockWorkload(mutations: LockAppMutations | undefined): Workload<LockState, LockModelState, LockInput, LockOutput> {
  const counts: LockCounts = { calls: 0, granted: 0, queued: 0, cycles: 0, stats: 0, unknown: 0, thefts: 0, theftsRefused: 0, unrecordedRunning: 0 };
  let locks: readonly string[] = [];
  return {
    name: 'lock',
    app: mutations === undefined ? lockApp : createLockApp(mutations),
    calls: lockCalls,
    model: lockModel,
    checkHistory: lockTokenConflict,
    progressUnit: 'lock cycles',
    setUp(run) {
      locks = ['a', 'b', 'c'].slice(0, run.sim.rng.between(...lockRunBounds.locks)).map((l) => `lock-${l}`);
    },
    startClient(client, run) {
      new LockClient(client, locks, run, counts).start();
    },
    checkFinal(states, snapshots, run) {
      run.rsm.checkEqualState(snapshots, new Map([...states].map(([id, s]) => [id, `${s.locks.size} locks, last token ${s.lastToken}`])));
    },
    unrecordedRunning: () => counts.unrecordedRunning,
    stats: () => {
      const { unrecordedRunning: _, ...figures } = counts;
      return { locks: locks.length, ...figures };
    },
  };
}

/**
 * One randomized run of the whole stack with the lock service (faults, settling and liveness as
 * in `runRsmSimulation`): concurrent clients acquire, stat and release a few locks, and their
 * history must linearize in `lockModel`.
 */
export function runLockSimulation(opts: LockRunOptions): RunResult {
  return runStackSimulation(lockWorkload(opts.lockAppMutations), opts);
}
