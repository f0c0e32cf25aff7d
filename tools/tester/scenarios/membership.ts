/**
 * Tester scenarios about membership: a cluster grows, members are killed (SIGTERM, SIGKILL),
 * restarted, lost beyond a majority and regained, and a restarted process that is still listed
 * is recovered. Views are checked by content after each step.
 */
import type { NodeProcess } from '../../harness/node-process.js';
import { check } from '../report.js';
import type { Scenario } from '../scenarios.js';
import { expectNoSuccess, expectServes, holderOf, regroup } from '../steps.js';

export const membershipScenarios: readonly Scenario[] = [
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
      await regroup(c, G, C, { survivors: [A, B], primary: A, rejoin: false });
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
      // Under supervision the supervisor restarts n1: it comes back as a backup at the end of the list.
      await regroup(c, G, A, { survivors: [B, C], primary: B, rejoin: false });
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
      await regroup(c, G, C, { survivors: [A, B], primary: A, rejoin: true });
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
      // n2 comes back (restarted while listed, on its data directory): the dead n3 is removed. With durable state n2 keeps its
      // state, so it is neither removed nor re-added (the in-memory era's [n1] [n1,n2]): the new view [n1,n2] lists it, which
      // is all a restarted member needs (it syncs afresh in that view).
      await c.restart(B);
      await c.expectView([A, B], { history: [...G, [A, B]], primary: A });
      // n3, removed while dead, comes back on its data directory and rejoins at the end of the list.
      await c.restart(C);
      await c.expectView([A, B, C], { history: [...G, [A, B], [A, B, C]], primary: A });
      // The probe got no answer, so its outcome is unknown to its client, and it may take effect later: n1 stamped it in
      // view 3 into its durable log, and executes it on leaving that view (Pipeline.abandon: its disk would replay it after
      // a restart anyway); n1 is the complete state view 4 starts from. So its lock is free or held by the probe's owner
      // (its session may have expired since), never by anyone else.
      const probeHolder = await holderOf(c, 'probe4');
      check(probeHolder === null || probeHolder === 'probe4', `lock probe4 is held by ${JSON.stringify(probeHolder)}`);
      c.note(`the unanswered probe's lock is ${probeHolder === null ? 'free' : 'held by its owner'}`);
      await expectServes(c);
    },
  },
  {
    number: 20,
    name: 'a restarted process that is still listed is recovered without a manual step',
    nodes: 3,
    async run(c) {
      // Proves the incarnation fix: a backup restarted before anyone noticed its death (still listed, its in-memory work lost) gets a new view.
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
      // With durable state it keeps what it held: one new view of the same members (a refresh), no removal.
      await c.expectView([A, B, C], { history: [...G, [A, B, C]], primary: A });
      await c.expectSameState(c.nodes);
    },
  },
];
