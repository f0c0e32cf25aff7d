/**
 * Every timeout and pause of the real-process tester, in one place, with the reason for its
 * value. The cluster's own timing (`src/options.ts`) sets the scale: a dead member is suspected
 * after 5 heartbeats of 100 ms and removed by one Paxos round, so one view change on loopback
 * takes about 0.5–1 s; a state transfer of the lock service's small state adds milliseconds.
 * The bounds below are generous multiples of that, so that a slow or loaded machine does not
 * fail a scenario, while a cluster that is really stuck fails it within seconds, not minutes.
 */

/**
 * How long one expected view change (or a short chain of them, e.g. remove then re-add) may
 * take until every node named agrees on the expected view and serves it. 15 s: ten times a
 * removal on an idle loopback cluster, enough for a 2-core machine that also runs the lock
 * tester's clients and five node processes.
 */
export const viewChangeTimeoutMs = 15_000;

/**
 * How long a freshly started node may take to be added to the view and serve as a replica (a
 * join is a join request every 300 ms, a Paxos round and a state transfer). 15 s, as above.
 */
export const joinTimeoutMs = 15_000;

/**
 * How long the tester watches a cluster that must not change (no majority, a stalled Paxos
 * instance) and asserts that no node's view advances. 3 s: six times the failure detection time
 * (0.5 s), so that any removal the cluster could have proposed would have been decided by then.
 */
export const quietPeriodMs = 3000;

/** How often the tester polls statuses while it waits or watches. 100 ms: one heartbeat interval. */
export const pollIntervalMs = 100;

/**
 * Deadline of one status call to one node. 2 s: a live node answers in a millisecond; a paused
 * or isolated one never does, and the tester must move on.
 */
export const statusCallDeadlineMs = 2000;

/**
 * How long a process may take to die once it was signalled, or once a crash breakpoint was
 * armed and the request or view change that fires it was set off. 15 s: a breakpoint armed on a
 * backup fires at the next request it executes, which may wait for a view change.
 */
export const deathTimeoutMs = 15_000;

/**
 * Deadline of a direct call to one replica that must NOT be answered successfully (a deposed,
 * paused or partitioned primary; the minority side of a split). 3 s: a serving primary answers
 * in milliseconds, so any success would come well within it; the wait only proves the silence.
 */
export const probeDeadlineMs = 3000;

/**
 * Deadline of a client call that must succeed (a probe lock operation, the background load). It
 * may be sent just before a fault and wait for the view change: 30 s, twice `viewChangeTimeoutMs`.
 */
export const callDeadlineMs = 30_000;

/**
 * How long the lock tester's tests and background load run before a scenario injects its fault,
 * so that the fault hits requests in flight (test 2 holds lock `a` for a second per client, so at
 * 1.5 s a lock is held and five clients wait for it).
 */
export const loadWarmupMs = 1500;

/**
 * Scenario 17: how long a client call waits in the socket of the stopped (SIGSTOP) primary before
 * the process is resumed, so that the old primary handles it first thing when it runs again,
 * before it can hear of the view that replaced it. 300 ms: the call surely arrived by then.
 */
export const stoppedCallDelayMs = 300;

/**
 * A lock tester test still running after this long fails (`LockTesterOptions.testTimeoutMs`).
 * 45 s: test 2 takes 6 s by design, the others well under one; a failover adds a few seconds.
 */
export const lockTestTimeoutMs = 45_000;

/**
 * Before its tests, the lock tester waits this long for the cluster to answer
 * (`LockTesterOptions.reachTimeoutMs`). 15 s, as `viewChangeTimeoutMs`.
 */
export const lockTesterReachTimeoutMs = 15_000;

/**
 * A whole scenario still running after this long fails, and its processes are killed. 180 s:
 * the longest scenario takes about 20 s; this only catches a scenario stuck in a way that no
 * other bound catches.
 */
export const scenarioTimeoutMs = 180_000;

/**
 * `--supervise`: how long the supervisor waits before it restarts a node process that died, as
 * an init system's restart delay (systemd's default `RestartSec` is 100 ms). Short on purpose:
 * a process that comes back before its peers noticed it was gone is the interesting case (it is
 * still listed in the view, with its memory lost).
 */
export const supervisorRestartDelayMs = 100;

/**
 * How long the background load's clients pause between two operations. 5 ms: a steady stream
 * of replicated requests (a few hundred a second with three clients) without saturating a
 * 2-core machine that also runs the nodes.
 */
export const loadThinkMs = 5;

/**
 * At the end of a run (or on an interrupt), how long the tester lets its node processes stop
 * after SIGKILL before it removes their directories. SIGKILL is immediate; 5 s only bounds a
 * process the kernel is slow to reap.
 */
export const shutdownTimeoutMs = 5000;

/**
 * When arming a crash breakpoint gets no answer, how long the node may take to be gone before
 * the failure counts: under load the breakpoint fires at once and takes the control call's
 * answer down with it. 2 s: a process that dies of a breakpoint is gone within milliseconds.
 */
export const armAnswerLostMs = 2000;

/**
 * Restart scenarios (21–25): how long after the last of a cluster's nodes was restarted on its
 * data directory the cluster must serve again by itself (every node a normal member of one view,
 * no operator step). A restart replays the node's snapshot and log (milliseconds for the lock
 * service's small state), then the members make a refresh (one view change: a new view of the
 * same members in the same order, proposed by the restarted members themselves when every one of
 * them restarted; no member is removed), in which each restarted replica catches up from its own
 * state; a view of one carries on. A wiped data directory (scenario 25) takes two view changes
 * instead (the old id removed, the new one added) and a state transfer. About 2–3 s on an idle
 * loopback cluster. 20 s: above `viewChangeTimeoutMs` for those view changes on a loaded 2-core
 * machine; a cluster that does not come back at all (the failure these scenarios exist to catch)
 * fails within it.
 */
export const restartServeTimeoutMs = 20_000;

/**
 * Restart scenarios: the session timeout their nodes run with (`--session-timeout-ms`). Their
 * held locks belong to plain clients that keep no callback stream, whose sessions would expire
 * after the default 5 s of a primary serving and free the locks whatever the restarts did; the
 * scenarios check durability, not sessions (the lock tester's clients, which do keep streams,
 * run beside them). 600 s: far above any scenario's length (`scenarioTimeoutMs`).
 */
export const heldLockSessionTimeoutMs = 600_000;

/**
 * Scenario 27: how often the tester re-sends its probe request to the new view's primary while it
 * waits for the view's first served request. 20 ms: the printed cut → first-served time is then
 * within 20 ms (plus one call) of the truth, at the cost of about fifty refused calls per second.
 */
export const firstServedPollMs = 20;
