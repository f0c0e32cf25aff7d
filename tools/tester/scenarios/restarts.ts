/**
 * Tester scenarios about durable state (issue 13): whole clusters SIGKILLed (a power cut) or
 * SIGTERMed (a rollout) and restarted on their data directories, a cluster of one restarted, and
 * a removed node that holds the only complete state coming back; and a member restarted on a
 * wiped data directory, which is a new member (a new disk id), not the one the views list. After
 * each, the cluster must serve again by itself within `restartServeTimeoutMs`, with every lock
 * held by whom it was, the fencing-token counter above every token granted before, and the same
 * state on every replica.
 */
import type { NodeProcess } from '../../harness/node-process.js';
import type { NodeStatus } from '../../../src/node/status.js';
import { addressOf } from '../../../src/env/types.js';
import type { TesterCluster } from '../cluster.js';
import { expectLocksKept, holdLocks, tokenMark } from '../held-locks.js';
import { check } from '../report.js';
import type { Scenario } from '../scenarios.js';
import { expectServes, underLoad } from '../steps.js';
import { heldLockSessionTimeoutMs, restartServeTimeoutMs } from '../timing.js';
import { sameMembers } from '../views.js';

/**
 * The lock tester's tests run beside the whole-cluster restarts: 1, then 2, whose six lock
 * clients hold lock `a` one second each for about 6 s from the start, so the restarts hit a held
 * lock with five clients queued for it, and their callback streams must come back. Tests 3–5
 * would add 3.5 s of time without a fault to the scenarios.
 */
const lockTests = [1, 2];

/** Every restart scenario's nodes keep plain clients' sessions for longer than the scenario (see `heldLockSessionTimeoutMs`). */
const nodeArgs = ['--session-timeout-ms', String(heldLockSessionTimeoutMs)];

/** Sends `signal` to every node at once and waits until all are gone (SIGTERM: each exits with 0). */
async function stopAll(c: TesterCluster, signal: NodeJS.Signals): Promise<void> {
  await Promise.all(c.nodes.map((n) => c.kill(n, signal)));
}

/**
 * Waits until every node of the cluster is a normal member of one view of all of them (in any
 * order), later than `afterVid`, whose primary serves; fails after `restartServeTimeoutMs`
 * counted from `sinceMs` (a `performance.now()` time). Notes how long it took.
 */
export async function servesAgain(c: TesterCluster, what: string, sinceMs: number, afterVid: number): Promise<NodeStatus> {
  const all = c.nodes.map((n) => n.address);
  const left = Math.max(0, sinceMs + restartServeTimeoutMs - performance.now());
  const members = await c.until(`${what}: a view of every node serving again`, async () => {
    const s = await Promise.all(c.nodes.map((n) => c.status(n)));
    const s0 = s[0]!;
    const ok = s.every((x) => x.vid === s0.vid && x.vid > afterVid && x.configStatus === 'member' && x.replicaStatus === 'normal' &&
      !x.refusing && x.primary === s0.primary && sameMembers(x.members, s0.members)) && s0.members.length === all.length &&
      all.every((a) => s0.members.includes(a));
    return ok ? s0.members : undefined;
  }, left);
  const order = members.map((a) => c.nodes.find((n) => n.address === a)!);
  const s = await c.expectView(order);
  c.note(`${what}: serving again in view ${s.vid} ${c.list(order)} ${((performance.now() - sinceMs) / 1000).toFixed(1)} s after the restarts`);
  return s;
}

/**
 * Holds locks, takes the token mark, stops every node with `signal` at once, restarts them all,
 * and checks that the cluster serves again by itself with every lock and the token counter.
 */
async function wholeClusterRestart(c: TesterCluster, signal: NodeJS.Signals, prefix: string): Promise<void> {
  const held = await holdLocks(c, prefix);
  const vid = (await c.status(c.nodes[0]!)).vid;
  const mark = await tokenMark(c, `${prefix}-mark`);
  await stopAll(c, signal);
  const restartedAt = performance.now();
  await Promise.all(c.nodes.map((n) => c.restart(n)));
  await servesAgain(c, `${signal} of every node`, restartedAt, vid);
  await expectLocksKept(c, held, mark);
}

/** `n`'s member id (`MemberId`) as it reports it, checked to be of its address. */
async function memberIdOf(c: TesterCluster, n: NodeProcess): Promise<string> {
  const { member } = await c.status(n);
  check(addressOf(member) === n.address, `${c.label(n)} reports member id ${member}, not one of its address ${n.address}`);
  return member;
}

/** The view every node agrees on now (through n1's status). */
async function currentVid(c: TesterCluster): Promise<number> {
  return (await c.status(c.nodes[0]!)).vid;
}

export const restartScenarios: readonly Scenario[] = [
  {
    number: 21,
    name: 'SIGKILL of every node at once under lock load, then restarts: every lock and the token counter survive',
    nodes: 3,
    nodeArgs,
    async run(c) {
      // Proves a power cut loses nothing: restarted on their disks the nodes serve again by themselves, with every grant, queue and token.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      await underLoad(c, async () => {
        await wholeClusterRestart(c, 'SIGKILL', 'kill');
      }, lockTests);
      // Every member restarted: they make one new view of the same members (a refresh), in which the replicas sync afresh.
      // A node that came up late may be suspected first: then it is removed and rejoins at the end instead; nothing else.
      const G = c.growth();
      const s = await c.status(A);
      const after = s.views.slice(G.length).map((v) => v.members);
      const all = [A, B, C].map((n) => n.address);
      const refreshed = after.length === 1 && after[0]!.every((m, i) => m === all[i]) && after[0]!.length === all.length;
      const out = [A, B, C].find((n) => after[0] !== undefined && !after[0].includes(n.address));
      const inOrder = [A, B, C].filter((n) => n !== out);
      const lateOne = out !== undefined && after.length === 2 && sameMembers(after[0]!, inOrder.map((n) => n.address)) &&
        sameMembers(after[1]!, [...inOrder, out].map((n) => n.address));
      c.note(refreshed ? 'one new view of the same members' : 'a late node was removed and re-added');
      check(refreshed || lateOne,
        () => `after the restarts the views were ${after.map((v) => c.list(v)).join(' ')}, not one new view of the same members (nor a late one removed and re-added)`);
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 22,
    name: 'SIGTERM rollout, one node after the other and then all at once, under lock load',
    nodes: 3,
    nodeArgs,
    async run(c) {
      // Proves graceful stops lose nothing: a rolling restart and a whole-cluster SIGTERM both end serving with every lock and token.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      await underLoad(c, async () => {
        const held = await holdLocks(c, 'roll');
        const mark = await tokenMark(c, 'roll-mark');
        for (const n of [C, B, A]) {
          const vid = await currentVid(c);
          await c.kill(n, 'SIGTERM');
          const restartedAt = performance.now();
          await c.restart(n);
          await servesAgain(c, `rolling SIGTERM of ${c.label(n)}`, restartedAt, vid);
        }
        await expectLocksKept(c, held, mark);
        await wholeClusterRestart(c, 'SIGTERM', 'term');
      }, lockTests);
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 23,
    name: 'a cluster of one that executed requests, SIGKILLed and restarted: it serves again with its state',
    nodes: 1,
    nodeArgs,
    async run(c) {
      // Proves the first node alone keeps what it executed: restarted on its disk it serves [n1] again with every lock and token.
      await c.grow();
      const [A] = c.nodes as [NodeProcess];
      const held = await holdLocks(c, 'one');
      const mark = await tokenMark(c, 'one-mark');
      await c.kill(A, 'SIGKILL');
      const restartedAt = performance.now();
      await c.restart(A);
      await c.expectView([A], { history: [[A]], primary: A, timeoutMs: restartServeTimeoutMs });
      c.note(`n1 serves again ${((performance.now() - restartedAt) / 1000).toFixed(1)} s after its restart`);
      await expectLocksKept(c, held, mark);
      await expectServes(c);
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 24,
    name: 'a cluster of one SIGKILLed before it executed anything, restarted: it serves',
    nodes: 1,
    nodeArgs,
    async run(c) {
      // Proves a fresh first node restarted before any request (its disk holds only the initial state) serves again.
      await c.grow();
      const [A] = c.nodes as [NodeProcess];
      const before = await c.status(A);
      check(before.lastExecuted === null || before.lastExecuted.seqno === 0,
        `n1 executed ${before.lastExecuted?.vid}.${before.lastExecuted?.seqno} before any client called: the case "nothing executed" was not exercised`);
      await c.kill(A, 'SIGKILL');
      const restartedAt = performance.now();
      await c.restart(A);
      await c.expectView([A], { history: [[A]], primary: A, timeoutMs: restartServeTimeoutMs });
      c.note(`n1 serves again ${((performance.now() - restartedAt) / 1000).toFixed(1)} s after its restart`);
      const held = await holdLocks(c, 'fresh');
      const mark = await tokenMark(c, 'fresh-mark');
      await c.kill(A, 'SIGKILL');
      await c.restart(A);
      await c.expectView([A], { history: [[A]], primary: A, timeoutMs: restartServeTimeoutMs });
      await expectLocksKept(c, held, mark);
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 25,
    name: 'a backup SIGKILLed under lock load, its data directory deleted, restarted with --join: a new member, removed and re-added, every lock kept',
    nodes: 3,
    nodeArgs,
    async run(c) {
      // Proves a lost disk is recognised, not trusted: n3 comes back under a new disk id, its old id is removed, the new one added with the whole state.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      const old = await memberIdOf(c, C);
      check(old !== C.address, `n3 joined with a new data directory but is listed as ${old}, without a disk id`);
      await underLoad(c, async () => {
        const held = await holdLocks(c, 'wipe');
        const mark = await tokenMark(c, 'wipe-mark');
        await c.kill(C, 'SIGKILL');
        c.wipe(C);
        await c.restart(C, ['--join', A.address]);
        await c.expectView([A, B, C], { history: [...G, [A, B], [A, B, C]], primary: A, timeoutMs: restartServeTimeoutMs });
        await expectLocksKept(c, held, mark);
      }, lockTests);
      const renewed = await memberIdOf(c, C);
      check(renewed !== old && renewed !== C.address, `n3 restarted on a wiped data directory reports member id ${renewed}, not a new disk id (it was ${old})`);
      for (const n of c.nodes) {
        const { memberIds } = await c.status(n);
        check(memberIds.includes(renewed) && !memberIds.includes(old), `${c.label(n)}'s view lists ${memberIds.join(',')}: not n3's new id ${renewed} without its old ${old}`);
      }
      // The two views as Paxos decided them: the old disk's member removed, the new disk's added.
      // Read raw from the control service: member ids as Paxos decided them, disk ids included.
      const ids = async (vid: number): Promise<string[] | null> =>
        (await A.control<{ slot?: { decided?: { members?: string[] } } }>('PaxosStatus', { instance: vid })).slot?.decided?.members ?? null;
      const removal = await ids(G.length + 1);
      const addition = await ids(G.length + 2);
      check(removal !== null && !removal.includes(old) && !removal.some((m) => addressOf(m) === C.address),
        `view ${G.length + 1} is ${JSON.stringify(removal)}: it should drop n3's old id ${old}`);
      check(addition !== null && addition.at(-1) === renewed, `view ${G.length + 2} is ${JSON.stringify(addition)}: it should add n3's new id ${renewed}`);
      check(c.log(C).includes(`lists this address as ${old}, but this data directory is ${renewed}`),
        `n3's log does not say that the views list its address as ${old}, not as its new data directory ${renewed}`);
      c.note(`n3 was ${old}, is ${renewed}: views ${G.length + 1} ${JSON.stringify(removal)} and ${G.length + 2} ${JSON.stringify(addition)}`);
      await c.checkAgreement();
      await c.expectSameState(c.nodes);
    },
  },
];
