/**
 * Tester scenarios under lock load: the lock tester's five tests and a background load run while
 * a backup or the primary is killed (and restarted), or every node but one; the verdicts of both
 * and the replicas' states are checked afterwards.
 */
import type { NodeProcess } from '../../harness/node-process.js';
import { check } from '../report.js';
import type { Scenario } from '../scenarios.js';
import { addresses, regroup, underLoad } from '../steps.js';
import { sameHistory } from '../views.js';

export const loadScenarios: readonly Scenario[] = [
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
        await regroup(c, G, C, { survivors: [A, B], primary: A, rejoin: false });
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
        await regroup(c, G, C, { survivors: [A, B], primary: A, rejoin: true });
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
        await regroup(c, G, A, { survivors: [B, C], primary: B, rejoin: false });
      });
      await c.expectSameState(c.supervise ? [B, C, A] : [B, C]);
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
];
