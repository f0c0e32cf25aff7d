/**
 * Every duration, range and timeout of the nemesis (issue 7), in one place, with the reason for
 * its value. The cluster's own timing (`src/options.ts`) sets the scale: a dead or cut-off member
 * is suspected after 5 heartbeats of 100 ms and removed by one Paxos round, so a view change on
 * loopback takes about 0.5–1 s, and a restarted node is a normal replica again 0.5–1.5 s after
 * its process started (README, demo). The fault durations straddle that scale on purpose: some
 * faults end before anyone notices, others outlast a view change or two.
 */

/** An inclusive range of milliseconds a duration is drawn from (uniformly, by the run's seed). */
export interface RangeMs {
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * The session timeout every node is started with (`--session-timeout-ms`). The servers expire an
 * owner whose callback stream has been gone this long (`expire({ owner })`: its locks are released
 * and it leaves every queue behind its client's back). The linearizability model of the lock
 * service does not model expiry (`lockModel`: "no session expires during the history"), and the
 * faults here routinely cut a client's stream for seconds (a paused or isolated primary, a view
 * change), which the default 5 s would turn into expiries. 600 s: ten times the longest run the
 * nemesis is meant for, so no session expires during a run.
 */
export const nemesisSessionTimeoutMs = 600_000;

/**
 * Deadline of one server call (acquire or release) of a lock client
 * (`LockClientOptions.callDeadlineMs`). A call that misses it has an unknown outcome, which the
 * checker must consider both ways. 15 s: above the longest fault (a 3 s pause or partition) plus
 * two view changes and a state transfer, so unknown outcomes are rare; they still happen when a
 * call is cut by the end of the run, or when recovery is unusually slow.
 */
export const lockCallDeadlineMs = 15_000;

/** Deadline of a `stat` call a client makes directly through its `RsmClient`, as `lockCallDeadlineMs`. */
export const statCallDeadlineMs = lockCallDeadlineMs;

/**
 * A user of a lock client still waiting for a lock after this long is stuck (the lock client
 * itself waits for ever): the run reports it as a liveness failure and that user stops. 30 s: a
 * lock is held for at most `holdMs.maxMs` per user, five users contend for it, and the worst fault
 * holds the cluster up for a few seconds; twice the call deadline.
 */
export const acquireTimeoutMs = 30_000;

/** How long a user holds the locks it acquired before it releases them: short, so locks change hands often. */
export const holdMs: RangeMs = { minMs: 0, maxMs: 20 };

/** Pause of a user between two cycles: a steady stream of contention without saturating a 2-core machine. */
export const thinkMs: RangeMs = { minMs: 0, maxMs: 10 };

/** Chance that a cycle takes two locks (in name order, so users never deadlock) instead of one. */
export const twoLockChance = 0.25;

/**
 * Chance that a user asks the service for the state of a random lock (`stat`, holder, token and
 * FIFO queue) after a cycle: the strongest observation the model can check.
 */
export const statChance = 0.15;

/** How long the clients run before the first fault, so that faults hit a cluster under load. */
export const warmupMs = 1000;

/** Pause between the start of one fault and the next attempt to start another. */
export const faultGapMs: RangeMs = { minMs: 200, maxMs: 1500 };

/** While no fault may start (the cluster has its minority of faulty nodes, or is not settled), look again this often. */
export const faultRetryMs = 100;

/**
 * SIGKILL: how long the node stays down before it is restarted. From 0 (restarted while its
 * peers still list it: stale until a refresh, a new view of the same members, in which it catches
 * up from its own state) to 2 s (removed as dead first, then added again when it asks to join).
 */
export const killDownMs: RangeMs = { minMs: 0, maxMs: 2000 };

/**
 * Chance that a killed node is restarted at once (within `quickRestartMs`) instead: the case of a
 * process that is back before its peers noticed it was gone (listed, its memory lost, its disk kept).
 */
export const quickRestartChance = 0.3;
export const quickRestartMs: RangeMs = { minMs: 0, maxMs: 150 };

/**
 * SIGSTOP: how long the node is stopped before SIGCONT. From 200 ms (nobody notices) to 3 s (it
 * is removed and, resumed, finds itself outside the view; a stopped primary resumes with
 * requests in its sockets that it must not answer).
 */
export const pauseMs: RangeMs = { minMs: 200, maxMs: 3000 };

/** Chance that a SIGSTOP fault stops the primary rather than a node drawn at random. */
export const pausePrimaryChance = 0.5;

/** Isolation (cut off from every peer and client): from under the suspicion time to several view changes. */
export const isolateMs: RangeMs = { minMs: 300, maxMs: 3000 };

/** Split (a minority cut off from the majority; clients still reach both sides): as isolation. */
export const splitMs: RangeMs = { minMs: 300, maxMs: 3000 };

/**
 * The primary cut off from its peers only (issue 14): from under its lease (500 ms: it keeps the
 * lease, or loses it just before the heal, and is not replaced) to several seconds (it falls
 * silent, the others replace it after the lease, and it rejoins once healed).
 */
export const primaryCutMs: RangeMs = { minMs: 300, maxMs: 3000 };

/**
 * Whole-cluster kill (every node SIGKILLed at once, a power cut): how long every node stays down
 * before all are restarted. From 0 (back before anyone could notice) to 1.5 s (clients' calls
 * time out against a dead cluster and are retried): either way the nodes restart on their data
 * directories and must serve again by themselves.
 */
export const clusterKillDownMs: RangeMs = { minMs: 0, maxMs: 1500 };

/** After a crash breakpoint killed its node: how long before the node is restarted. */
export const breakpointRestartDelayMs: RangeMs = { minMs: 0, maxMs: 1000 };

/**
 * An armed crash breakpoint that has not fired this long after its trigger is disarmed (the fault
 * ends without a death, counted as not fired). 10 s: breakpoint 1 fires at the next request the
 * node executes (milliseconds under load), 2 at the next view it commits, 3 and 4 during the
 * proposal the fault makes the node start; a view change takes about a second.
 */
export const breakpointWindowMs = 10_000;

/**
 * Breakpoint 2 (dies committing a view it is in) is triggered by isolating its node until the
 * others removed it, then healing it: it dies committing the view that adds it back. The
 * isolation lasts until some other node's view lacks it, at most this long.
 */
export const breakpoint2IsolateMaxMs = 5000;

/**
 * After a disarmed breakpoint's node answered the disarm, how long it is still watched for a
 * death: a breakpoint that fired just before the disarm arrived kills the node an instant later.
 */
export const disarmGraceMs = 500;

/**
 * A faulted node must be back (up, a member of the current view, a normal replica with a
 * complete state) this long after its fault ended (restart, SIGCONT, heal). 30 s: a removal, a
 * join and a state transfer take 1–3 s on an idle loopback cluster; ten times that for a loaded
 * 2-core machine. Missing it is a liveness failure.
 */
export const recoveryTimeoutMs = 30_000;

/**
 * After every fault was healed: every node must be a member of one view with all nodes, every
 * replica normal, within this long. 30 s, as `recoveryTimeoutMs`.
 */
export const settleTimeoutMs = 30_000;

/** After the cluster settled, every user must complete this many more cycles (liveness). */
export const livenessCycles = 3;

/** …within this long, or the run fails naming the users that did not. */
export const livenessTimeoutMs = 30_000;

/** When the clients stop: how long the users get to finish the cycle they are in before their clients are closed. */
export const stopClientsTimeoutMs = 5000;

/** How often every node's status is read (one status call per node per period; a paused node is skipped). */
export const statusPollMs = 100;

/**
 * A status older than this does not count for "the current view" (the highest view any node
 * reported recently): a node that stopped answering must not hold the view back or ahead.
 */
export const statusFreshMs = 2000;

/**
 * Time budget of the linearizability check. A 60 s run records a few thousand lock operations
 * over three locks; the check takes well under a second when the history is linearizable. 120 s
 * only bounds a pathological search (many unknown outcomes).
 */
export const checkTimeBudgetMs = 120_000;

/**
 * Attempts of a control action (isolate, heal, disarm …) before the fault fails: a control call
 * can time out on a loaded machine. 3, with `controlRetryPauseMs` between attempts.
 */
export const controlAttempts = 3;

/** Pause between two attempts of a control action: 200 ms, a couple of heartbeats. */
export const controlRetryPauseMs = 200;
