/**
 * The scenarios of the real-process tester (issue 6): the classic seventeen (0–16) and four new
 * ones (17–20). Each starts a fresh cluster of `synod lock-server` processes, grows it one node at
 * a time (views [n1], [n1,n2], … so the history is known), injects its faults, and checks the
 * content of the views on every node — exact member lists in order, the same history everywhere,
 * the primary — plus, where it runs load, the lock tester's verdict and the background load's.
 *
 * Naming: n1 is the first node (lowest port) and the first primary; `G` is the growth history.
 */
import type { NodeProcess } from '../harness/node-process.js';
import { sleep } from '../harness/node-process.js';
import { describeProbe, type ProbeResult } from '../harness/client-probe.js';
import type { Json } from '../../src/rsm/app.js';
import { type History, type TesterCluster, ScenarioFailure, check } from './cluster.js';
import { loadWarmupMs, probeDeadlineMs, stoppedCallDelayMs } from './timing.js';

export interface Scenario {
  readonly number: number;
  readonly name: string;
  /** How many nodes the scenario's cluster has. */
  readonly nodes: number;
  run(c: TesterCluster): Promise<void>;
}

type Grant = { granted?: boolean; token?: number };

/** A probe's result must not be a successful (executed) answer. */
function expectNoSuccess(c: TesterCluster, n: NodeProcess, r: ProbeResult, when: string): void {
  check(!(r.kind === 'answer' && r.answer.kind === 'executed'), `${c.label(n)} answered a client ${when}: ${describeProbe(r)}`);
  c.note(`${c.label(n)} ${when}: ${describeProbe(r)}`);
}

/** The cluster serves: a fresh client acquires and releases a lock of its own. */
async function expectServes(c: TesterCluster, members: readonly NodeProcess[] = c.nodes, lock = 'serves'): Promise<void> {
  const client = c.client(members);
  const owner = client.clientId;
  const g = (await c.call(client, 'acquire', { lock, owner })) as Grant;
  check(g.granted === true, `acquire of the free lock ${lock} was not granted: ${JSON.stringify(g)}`);
  const r = await c.call(client, 'release', { lock, owner, token: g.token! });
  check(JSON.stringify(r) === JSON.stringify({ released: true }), `release of ${lock} answered ${JSON.stringify(r)}`);
  client.close();
}

/** Whether lock `lock` is free in the replicated state (asked through any member). */
async function holderOf(c: TesterCluster, lock: string, members: readonly NodeProcess[] = c.nodes): Promise<Json> {
  const client = c.client(members);
  const s = (await c.call(client, 'stat', { lock })) as { holder?: Json };
  client.close();
  return s.holder ?? null;
}

/**
 * Runs the lock tester (all five tests) and the background load, lets them warm up, runs
 * `fault` (which injects the faults and waits for the views it expects), then checks the lock
 * tester's verdict and the load: no error, and progress after the fault.
 */
async function underLoad(c: TesterCluster, fault: () => Promise<void>): Promise<void> {
  const load = c.startLoad();
  const tester = c.lockTester();
  tester.catch(() => {}); // awaited below unless the fault fails first
  await sleep(loadWarmupMs);
  check(load.operations > 0, 'the background load made no progress before the fault');
  const faultAt = performance.now();
  await fault();
  const result = await tester;
  const report = await load.stop();
  c.note(`load: ${report.cycles} acquire/release cycles, longest stall ${report.longestStallMs} ms`);
  c.expectLockTesterPassed(result);
  check(report.errors.length === 0, () => `background load: ${report.errors.join('; ')}`);
  check(load.operationsSince(faultAt) > 0, 'the background load made no progress after the fault');
}

/** `views` as member lists of addresses. */
function addresses(h: History): string[][] {
  return h.map((v) => v.map((n) => n.address));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export const scenarios: readonly Scenario[] = [
  {
    number: 0,
    name: 'start 3 nodes',
    nodes: 3,
    async run(c) {
      // Proves startup: nodes join one by one at the end of the list, n1 is the primary, every node holds the same history and state.
      await c.grow();
      await expectServes(c);
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 1,
    name: 'kill a backup',
    nodes: 3,
    async run(c) {
      // Proves the removal of a backup stopped with SIGTERM: the next view is [n1,n2] on both survivors, n1 stays primary.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await c.crash(C, 'SIGTERM');
      if (!c.supervise) {
        await c.expectView([A, B], { history: [...G, [A, B]], primary: A });
      } else {
        await c.bringBack(C);
        await c.expectView([A, B, C], { history: [...G, [A, B], [A, B, C]], primary: A });
      }
      await expectServes(c);
    },
  },
  {
    number: 2,
    name: 'kill the primary',
    nodes: 3,
    async run(c) {
      // Proves the primary rule: with n1 dead, the first member of the previous view still present (n2) is primary of [n2,n3].
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await c.crash(A, 'SIGKILL');
      if (!c.supervise) {
        await c.expectView([B, C], { history: [...G, [B, C]], primary: B });
      } else {
        // The supervisor restarts n1: it comes back as a backup at the end of the list.
        await c.bringBack(A);
        await c.expectView([B, C, A], { history: [...G, [B, C], [B, C, A]], primary: B });
      }
      await expectServes(c);
    },
  },
  {
    number: 3,
    name: 'kill a backup and restart it',
    nodes: 3,
    async run(c) {
      // Proves that a removed backup restarted on its port and data directory rejoins at the end of the list and gets the state.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await expectServes(c);
      await c.crash(C, 'SIGKILL');
      if (!c.supervise) await c.expectView([A, B], { history: [...G, [A, B]], primary: A });
      await c.bringBack(C);
      await c.expectView([A, B, C], { history: [...G, [A, B], [A, B, C]], primary: A });
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 4,
    name: 'lose a majority of the view and regain it',
    nodes: 3,
    async run(c) {
      // Proves that no view appears without a majority (and no client is answered), and that the cluster recovers as members return.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await c.kill(B, 'SIGKILL');
      await c.kill(C, 'SIGKILL');
      const probe = c.probe(A, 'acquire', { lock: 'probe4', owner: 'probe4' });
      await c.expectNoViewChange([A], G.length, 'only n1 of [n1,n2,n3] is alive');
      expectNoSuccess(c, A, await probe, 'without a majority');
      // n2 comes back (restarted while listed): the dead n3 is removed first, then the stale n2, which then rejoins.
      await c.restart(B);
      await c.expectView([A, B], { history: [...G, [A, B], [A], [A, B]], primary: A });
      await c.restart(C);
      await c.expectView([A, B, C], { history: [...G, [A, B], [A], [A, B], [A, B, C]], primary: A });
      check((await holderOf(c, 'probe4')) === null, 'the request sent to n1 without a majority was executed after all');
      await expectServes(c);
    },
  },
  {
    number: 5,
    name: 'Paxos breakpoint 3 on the proposer plus a killed backup',
    nodes: 4,
    async run(c) {
      // Proves that a proposer dying between prepare and accept leaves nothing accepted, and that the survivors' own proposal wins later.
      await c.grow();
      const [A, B, C, D] = c.nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await c.kill(D, 'SIGKILL');
      const died = c.expectDeath(A, /breakpoint 3/, { stayDown: true });
      await c.arm(A, 3);
      // n1 proposes what it would propose itself on noticing n4's death: remove it. It dies after its prepare phase.
      const outcome = await c.propose(A, G.length + 1, [A, B, C]);
      check(outcome === 'started', `n1's proposal was not started: ${outcome}`);
      await died;
      for (const n of [B, C]) {
        const slot = await c.acceptorSlot(n, G.length + 1);
        check(slot.accepted === null, `${c.label(n)} accepted ${JSON.stringify(slot.accepted)} although the proposer died before its accept phase`);
      }
      await c.expectNoViewChange([B, C], G.length, 'n2 and n3 are not a majority of [n1,n2,n3,n4]');
      // n4 restarts (stale): n2 and n3 remove the dead n1 with their own value; then the stale n4 is removed and re-added.
      await c.restart(D);
      await c.expectView([B, C, D], { history: [...G, [B, C, D], [B, C], [B, C, D]], primary: B });
      await expectServes(c, [B, C, D]);
    },
  },
  {
    number: 6,
    name: 'Paxos breakpoint 4 with four nodes: the accepted view wins',
    nodes: 4,
    async run(c) {
      // Proves the classic Paxos case: a value a majority accepted before its proposer died is the one decided later.
      await c.grow();
      const [A, B, C, D] = c.nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      const accepted = await acceptedByMajorityThenDead(c, G);
      await c.expectNoViewChange([B, C], G.length, 'n2 and n3 are not a majority of [n1,n2,n3,n4]');
      // n4 restarts: n2 and n3 (and n4) want to remove the dead n1, but must adopt n1's accepted value for the next view.
      await c.restart(D);
      await c.expectView([B, C, D], { history: [...G, accepted, [B, C], [B, C, D]], primary: B });
      await expectServes(c, [B, C, D]);
    },
  },
  {
    number: 7,
    name: 'as 6 with the acceptors restarted',
    nodes: 4,
    async run(c) {
      // Proves that acceptances are durable: the accepted value still wins once every acceptor that held it has restarted.
      await c.grow();
      const [A, B, C, D] = c.nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      const accepted = await acceptedByMajorityThenDead(c, G);
      const next = G.length + 1;
      await c.kill(B, 'SIGKILL');
      await c.kill(C, 'SIGKILL');
      await Promise.all([B, C, D].map((n) => c.restart(n)));
      for (const n of [B, C]) {
        const slot = await c.acceptorSlot(n, next);
        check(slot.accepted !== null && sameList(slot.accepted, accepted.map((m) => m.address)),
          `${c.label(n)} restarted and no longer reports the value it accepted for view ${next}: ${JSON.stringify(slot.accepted)}`);
      }
      // Every live member restarted while n1, which may hold the only copy of the state, is silent: the view waits for it
      // (README, config: "Never stalling itself").
      await c.expectNoViewChange([B, C, D], G.length, 'every live member restarted and the silent n1 may hold the only copy of the state');
      await c.restart(A);
      // Every member restarted: they carry on together, and the next view is the value n1 got accepted, read from the acceptors' logs.
      await c.until(`view ${next} decided on every node`, async () => {
        const views = await Promise.all(c.nodes.map((n) => c.configView(n)));
        return views.every((v) => v.vid >= next) ? true : undefined;
      });
      for (const n of c.nodes) {
        const v = await c.configView(n);
        check(sameList(v.views[next - 1]!, accepted.map((m) => m.address)), `${c.label(n)}'s view ${next} is ${c.list(v.views[next - 1]!)}, not the accepted ${c.list(accepted)}`);
      }
      await c.checkAgreement();
      // Every process that held the replicated state restarted: the state is gone, and the cluster refuses to serve rather
      // than serve an empty one (README, RSM "Known limits").
      await c.until('the view refuses to serve (the replicated state is gone)', async () => {
        const all = await Promise.allSettled(c.nodes.map((n) => c.status(n)));
        return all.some((r) => r.status === 'fulfilled' && r.value.refusing) ? true : undefined;
      });
      for (const n of c.nodes) {
        expectNoSuccess(c, n, await c.probe(n, 'acquire', { lock: 'probe7', owner: 'probe7' }), 'after the state was lost');
      }
    },
  },
  {
    number: 8,
    name: 'lock tester on a healthy cluster',
    nodes: 3,
    async run(c) {
      // Proves the lock service's mutual exclusion and fencing tokens through the five classic tests; no view changes meanwhile.
      await c.grow();
      const G = c.growth();
      c.expectLockTesterPassed(await c.lockTester());
      await c.expectView(c.nodes, { history: G, primary: c.nodes[0]! });
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 9,
    name: 'backup killed under lock load',
    nodes: 3,
    async run(c) {
      // Proves that a backup's death under load costs one view change: the lock tester and the load carry on, nothing lost.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await underLoad(c, async () => {
        await c.crash(C, 'SIGKILL');
        if (!c.supervise) {
          await c.expectView([A, B], { history: [...G, [A, B]], primary: A });
        } else {
          await c.bringBack(C);
          await c.expectView([A, B, C], { history: [...G, [A, B], [A, B, C]], primary: A });
        }
      });
      await c.expectSameState(c.supervise ? [A, B, C] : [A, B]);
    },
  },
  {
    number: 10,
    name: 'backup killed under lock load, then restarted (state transfer under load)',
    nodes: 3,
    async run(c) {
      // Proves state transfer to a rejoining backup while clients keep the primary busy: it ends with the same state.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await underLoad(c, async () => {
        await c.crash(C, 'SIGKILL');
        if (!c.supervise) await c.expectView([A, B], { history: [...G, [A, B]], primary: A });
        await c.bringBack(C);
        await c.expectView([A, B, C], { history: [...G, [A, B], [A, B, C]], primary: A });
      });
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 11,
    name: 'primary killed under lock load',
    nodes: 3,
    async run(c) {
      // Proves failover under load: n2 takes over, lock clients follow it and re-subscribe, no grant is lost or doubled.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await underLoad(c, async () => {
        await c.crash(A, 'SIGKILL');
        if (!c.supervise) {
          await c.expectView([B, C], { history: [...G, [B, C]], primary: B });
        } else {
          await c.bringBack(A);
          await c.expectView([B, C, A], { history: [...G, [B, C], [B, C, A]], primary: B });
        }
      });
      await c.expectSameState(c.supervise ? [B, C, A] : [B, C]);
    },
  },
  {
    number: 12,
    name: 'RSM breakpoint 1 on the primary, then restarted',
    nodes: 3,
    async run(c) {
      // Proves at-most-once across a failover: a release only a backup executed is answered from the client table, never run twice.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await atMostOnceAcross(c, A, /breakpoint 1: primary .* dies after backup .* executed/, async () => {
        if (!c.supervise) await c.expectView([B, C], { history: [...G, [B, C]], primary: B });
        await c.bringBack(A);
        await c.expectView([B, C, A], { history: [...G, [B, C], [B, C, A]], primary: B });
      });
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 13,
    name: 'RSM breakpoint 1 on a backup, then restarted',
    nodes: 3,
    async run(c) {
      // Proves that a backup dying between executing and acknowledging costs a view change and nothing else.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await atMostOnceAcross(c, C, /breakpoint 1: backup .* dies after executing/, async () => {
        if (!c.supervise) await c.expectView([A, B], { history: [...G, [A, B]], primary: A });
        await c.bringBack(C);
        await c.expectView([A, B, C], { history: [...G, [A, B], [A, B, C]], primary: A });
      });
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 14,
    name: 'RSM breakpoints 1 and 2 on five nodes (cascading view changes)',
    nodes: 5,
    // Proves two cascading view changes under load: n5 dies executing, n4 dies committing [n1..n4], [n1,n2,n3] serves.
    run: (c) => cascade(c, ([A, B, C, D]) => ({ dying: D, survivors: [A, B, C], primary: A })),
  },
  {
    number: 15,
    name: 'as 14 with breakpoint 2 on the primary',
    nodes: 5,
    // Proves the cascade when the primary itself dies mid view change: n2, the first survivor, takes over with every grant.
    run: (c) => cascade(c, ([A, B, C, D]) => ({ dying: A, survivors: [B, C, D], primary: B })),
  },
  {
    number: 16,
    name: 'primary partitioned, then healed: it is in the fifth view',
    nodes: 3,
    async run(c) {
      // Proves that an isolated primary is replaced, answers no client, and after healing rejoins in view 5 = [n2,n3,n1].
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await c.isolate(A);
      await c.expectView([B, C], { history: [...G, [B, C]], primary: B });
      const cut = await c.configView(A);
      check(cut.vid === G.length, `the isolated n1 learned of view ${cut.vid}`);
      expectNoSuccess(c, A, await c.probe(A, 'acquire', { lock: 'probe16', owner: 'probe16' }), 'while isolated');
      await c.heal(A);
      const s = await c.expectView([B, C, A], { history: [...G, [B, C], [B, C, A]], primary: B });
      check(s.vid === 5 && s.views[4]!.members.includes(A.address), `n1 is not in the fifth view: view ${s.vid}`);
      check((await holderOf(c, 'probe16')) === null, 'the request sent to the isolated n1 was executed');
      await expectServes(c);
    },
  },
  {
    number: 17,
    name: 'primary paused with SIGSTOP until replaced, then resumed: it answers no client and rejoins',
    nodes: 3,
    async run(c) {
      // Proves that a deposed primary that wakes up believing it still leads cannot answer: it gets no acknowledgement from the new view.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      const load = c.startLoad([A, B, C]);
      await sleep(loadWarmupMs);
      c.pause(A);
      await c.expectView([B, C], { history: [...G, [B, C]], primary: B });
      // A call sent to the stopped n1 waits in its socket: n1 handles it as soon as it runs again, before it hears of the new view.
      const asleep = c.probe(A, 'acquire', { lock: 'probe17', owner: 'probe17' }, probeDeadlineMs);
      await sleep(stoppedCallDelayMs);
      c.resume(A);
      expectNoSuccess(c, A, await asleep, 'to a call sent while it was stopped');
      expectNoSuccess(c, A, await c.probe(A, 'acquire', { lock: 'probe17', owner: 'probe17b' }), 'right after it resumed');
      await c.expectView([B, C, A], { history: [...G, [B, C], [B, C, A]], primary: B });
      const report = await load.stop();
      c.note(`load: ${report.cycles} cycles, longest stall ${report.longestStallMs} ms`);
      check(report.errors.length === 0, () => `background load: ${report.errors.join('; ')}`);
      check((await holderOf(c, 'probe17')) === null, 'the call sent to the paused n1 was executed');
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 18,
    name: 'two-sided split of a 5-node cluster, then healed',
    nodes: 5,
    async run(c) {
      // Proves that only a majority makes progress: [n3,n4,n5] goes on and serves a lock client; [n1,n2] (with the old primary)
      // answers nothing and decides nothing; after healing both sides merge into one view.
      await c.grow();
      const [A, B, C, D, E] = c.nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await c.split([A, B], [C, D, E]);
      // One member changes per view: n1 and n2 are removed one after the other (either first); n3 then leads.
      const major = await c.expectView([C, D, E], { primary: C });
      const h = major.views.map((v) => [...v.members]);
      check(h.length === G.length + 2 && sameHistory(h.slice(0, G.length), addresses(G)) &&
        (sameList(h[G.length]!, addresses([[B, C, D, E]])[0]!) || sameList(h[G.length]!, addresses([[A, C, D, E]])[0]!)),
        () => `majority side history ${h.map((v) => c.list(v)).join(' ')}: expected the growth, one of [n2,n3,n4,n5] / [n1,n3,n4,n5], then [n3,n4,n5]`);
      await expectServes(c, [C, D, E], 'majority');
      c.expectLockTesterPassed(await c.lockTester([C, D, E], [1]));
      // The minority side: still in view 5, no successful answer from either node, nor through a client that only knows them.
      for (const n of [A, B]) {
        const v = await c.configView(n);
        check(v.vid === G.length, `${c.label(n)} on the minority side moved to view ${v.vid} ${c.list(v.members)}`);
      }
      const probes = await Promise.all([A, B].map((n) => c.probe(n, 'acquire', { lock: 'minority', owner: `probe-${c.label(n)}` })));
      probes.forEach((r, i) => expectNoSuccess(c, [A, B][i]!, r, 'on the minority side'));
      const minority = c.client([A, B]);
      const answered = await minority.invoke('acquire', { lock: 'minority', owner: minority.clientId }, { deadlineMs: probeDeadlineMs })
        .then((v) => JSON.stringify(v), () => null);
      minority.close();
      check(answered === null, `a client of the minority side [n1,n2] got an answer: ${answered}`);
      await c.heal(...c.nodes);
      // Both rejoin at the end, one per view, in whichever order their requests are admitted.
      const merged = await c.until('the two sides merged into one 5-member view', async () => {
        const s = await c.status(C);
        return s.members.length === 5 && s.replicaStatus === 'normal' ? s.members : undefined;
      });
      check(sameList(merged.slice(0, 3), [C.address, D.address, E.address]), `merged view ${c.list(merged)} does not start with [n3,n4,n5]`);
      const order = merged.map((a) => c.nodes.find((n) => n.address === a)!);
      const final = await c.expectView(order, { history: [...h.map((v) => v.map((a) => c.nodes.find((n) => n.address === a)!)), order.slice(0, 4), order], primary: C });
      c.note(`merged: view ${final.vid} ${c.list(final.members)}`);
      check((await holderOf(c, 'minority')) === null, 'a request sent to the minority side was executed');
      await expectServes(c);
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 19,
    name: 'SIGKILL of every node but one under load, then restarts: the view history survives',
    nodes: 3,
    async run(c) {
      // Proves that views are durable: restarted nodes replay their history from their logs (a prefix of the survivor's), and
      // that the state survives in the one process that kept it: the cluster serves again with every grant.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await underLoad(c, async () => {
        await c.kill(A, 'SIGKILL');
        await c.kill(B, 'SIGKILL');
        await c.expectNoViewChange([C], G.length, 'n3 alone is not a majority');
        await Promise.all([c.restart(A), c.restart(B)]);
        // Read right after each restart: what the node replayed from its log (plus, at most, views the survivor decided
        // with it since — with two of three back, a view can be decided within milliseconds). The survivor is read last,
        // so that its history includes any such view.
        const restarted = await Promise.all([A, B].map((n) => c.configView(n)));
        const survivor = (await c.configView(C)).views;
        restarted.forEach((v, i) => {
          const n = [A, B][i]!;
          check(v.views.length >= G.length && sameHistory(v.views, survivor.slice(0, v.views.length)),
            () => `${c.label(n)} restarted with the history ${v.views.map((x) => c.list(x)).join(' ')}, not a prefix of the survivor's ${survivor.map((x) => c.list(x)).join(' ')}`);
        });
        c.note(`restarted nodes hold ${restarted.map((v) => v.views.length).join(' and ')} views, a prefix of the survivor's ${survivor.length}`);
        // The survivor removes the stale restarted nodes and re-adds them; the order depends on timing.
        const members = await c.until('the cluster serves a view of all three again', async () => {
          const s = await c.status(C);
          return s.members.length === 3 && s.replicaStatus === 'normal' && s.vid > G.length ? s.members : undefined;
        });
        const order = members.map((a) => c.nodes.find((n) => n.address === a)!);
        const s = await c.expectView(order);
        check(sameHistory(s.views.slice(0, G.length).map((v) => v.members), addresses(G)), 'the growth history changed');
      });
      await c.checkAgreement();
      await c.expectSameState(c.nodes);
    },
  },
  {
    number: 20,
    name: 'a restarted process that is still listed is recovered without a manual step',
    nodes: 3,
    async run(c) {
      // Proves the incarnation fix: a backup restarted before anyone noticed its death (still listed, memory lost) is removed and re-added.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await expectServes(c);
      // A restart on loopback takes about as long as failure detection (0.3 s against 0.4–0.5 s), so the two race. To be
      // sure n2 comes back while still listed, the other members are frozen (SIGSTOP, well under the suspicion threshold
      // of their own ticks) from just before the kill until the new process is up.
      c.pause(A);
      c.pause(C);
      await c.crash(B, 'SIGKILL');
      await c.bringBack(B);
      c.resume(A);
      c.resume(C);
      const back = await c.configView(B);
      check(back.status === 'stale', `n2 restarted while listed reports ${back.status}, not stale`);
      const seen = await c.configView(A);
      check(seen.vid === G.length && seen.members.includes(B.address),
        `n2 was removed (view ${seen.vid} ${c.list(seen.members)}) before its restart was up: the case "still listed" was not exercised`);
      c.note(`n2 came back (stale) while n1 still had it listed in view ${seen.vid} ${c.list(seen.members)}`);
      await c.expectView([A, C, B], { history: [...G, [A, C], [A, C, B]], primary: A });
      await c.expectSameState(c.nodes);
    },
  },
];

/**
 * Scenarios 6 and 7: n4 is killed, n1 (breakpoint 4 armed) proposes to remove it and dies once a
 * majority ([n1,n2,n3]) accepted. Checks that n2 and n3 accepted it; returns the accepted view.
 */
/**
 * Scenarios 14 and 15 on five nodes under load: n5 armed with breakpoint 1 (it dies executing a
 * request) and `dying` with breakpoint 2 (it dies committing the view [n1..n4] that removes n5);
 * then `survivors` serve with `primary`, with every replica's state equal.
 */
async function cascade(
  c: TesterCluster,
  roles: (nodes: readonly [NodeProcess, NodeProcess, NodeProcess, NodeProcess, NodeProcess]) => { dying: NodeProcess; survivors: NodeProcess[]; primary: NodeProcess },
): Promise<void> {
  await c.grow();
  const [A, B, C, D, E] = c.nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess, NodeProcess];
  const { dying, survivors, primary } = roles([A, B, C, D, E]);
  const G = c.growth();
  await underLoad(c, async () => {
    const eDied = c.expectDeath(E, /breakpoint 1: backup .* dies after executing/, { stayDown: true });
    const bp2Died = c.expectDeath(dying, /breakpoint 2: .* dies committing view 6/, { stayDown: true });
    await c.arm(dying, 2);
    await c.arm(E, 1);
    await eDied;
    await bp2Died;
    await c.expectView(survivors, { history: [...G, [A, B, C, D], survivors], primary });
  });
  await c.expectSameState(survivors);
}

async function acceptedByMajorityThenDead(c: TesterCluster, G: History): Promise<NodeProcess[]> {
  const [A, B, C, D] = c.nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess];
  const value = [A, B, C];
  await c.kill(D, 'SIGKILL');
  const died = c.expectDeath(A, /breakpoint 4/, { stayDown: true });
  await c.arm(A, 4);
  const outcome = await c.propose(A, G.length + 1, value);
  check(outcome === 'started', `n1's proposal was not started: ${outcome}`);
  await died;
  for (const n of [B, C]) {
    const slot = await c.acceptorSlot(n, G.length + 1);
    check(slot.accepted !== null && sameList(slot.accepted, value.map((m) => m.address)),
      `${c.label(n)} accepted ${JSON.stringify(slot.accepted)} for view ${G.length + 1}, not n1's ${c.list(value)}`);
    check(slot.decided === null, `${c.label(n)} knows view ${G.length + 1} decided although n1 died before deciding`);
  }
  return value;
}

/**
 * Scenarios 12 and 13: a client holds lock `L`; crash breakpoint 1 is armed on `victim`; the client
 * releases `L`, which kills `victim` once a backup executed the release. The release must be
 * answered `released` (a second execution would be refused: `not-held`), and after `recover`
 * the next grant's token is exactly one above the first (nothing else was granted in between).
 */
async function atMostOnceAcross(c: TesterCluster, victim: NodeProcess, reason: RegExp, recover: () => Promise<void>): Promise<void> {
  const client = c.client();
  const owner = client.clientId;
  const first = (await c.call(client, 'acquire', { lock: 'L', owner })) as Grant;
  check(first.granted === true, `acquire of L: ${JSON.stringify(first)}`);
  const died = c.expectDeath(victim, reason, { stayDown: false });
  await c.arm(victim, 1);
  const released = await c.call(client, 'release', { lock: 'L', owner, token: first.token! });
  check(JSON.stringify(released) === JSON.stringify({ released: true }), `the release interrupted by the breakpoint answered ${JSON.stringify(released)}`);
  await died;
  await recover();
  const again = (await c.call(client, 'acquire', { lock: 'L', owner })) as Grant;
  check(again.granted === true && again.token === first.token! + 1,
    `the next grant of L has token ${again.token}, expected ${first.token! + 1}: ${JSON.stringify(again)}`);
  await c.call(client, 'release', { lock: 'L', owner, token: again.token! });
  client.close();
  await expectServes(c);
}

function sameHistory(a: ReadonlyArray<readonly string[]>, b: ReadonlyArray<readonly string[]>): boolean {
  return a.length === b.length && a.every((v, i) => sameList(v, b[i]!));
}

export function scenario(n: number): Scenario {
  const s = scenarios.find((x) => x.number === n);
  if (s === undefined) throw new ScenarioFailure(`no scenario ${n}; there are 0 to ${scenarios.length - 1}`);
  return s;
}
