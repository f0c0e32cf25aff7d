/**
 * Tester scenarios where a primary is cut off without dying: isolated by a partition, stopped with
 * SIGSTOP until replaced, or on the minority side of a split. It must answer no client, decide
 * nothing, and rejoin once healed.
 */
import type { NodeProcess } from '../../harness/node-process.js';
import { sleep } from '../../harness/node-process.js';
import { check } from '../report.js';
import type { Scenario } from '../scenarios.js';
import { addresses, expectNoSuccess, expectServes, holderOf } from '../steps.js';
import { loadWarmupMs, probeDeadlineMs, stoppedCallDelayMs } from '../timing.js';
import { sameHistory, sameMembers } from '../views.js';

export const partitionScenarios: readonly Scenario[] = [
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
      // answers nothing and decides nothing, and a client given only their addresses is served by the majority's primary
      // (never by them); after healing both sides merge into one view.
      await c.grow();
      const [A, B, C, D, E] = c.nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await c.split([A, B], [C, D, E]);
      // One member changes per view: n1 and n2 are removed one after the other (either first); n3 then leads.
      const major = await c.expectView([C, D, E], { primary: C });
      const h = major.views.map((v) => [...v.members]);
      check(h.length === G.length + 2 && sameHistory(h.slice(0, G.length), addresses(G)) &&
        (sameMembers(h[G.length]!, addresses([[B, C, D, E]])[0]!) || sameMembers(h[G.length]!, addresses([[A, C, D, E]])[0]!)),
        () => `majority side history ${h.map((v) => c.list(v)).join(' ')}: expected the growth, one of [n2,n3,n4,n5] / [n1,n3,n4,n5], then [n3,n4,n5]`);
      await expectServes(c, [C, D, E], 'majority');
      c.expectLockTesterPassed(await c.lockTester([C, D, E], [1]));
      // The minority side: still in view 5, and no successful answer from either node (probes: one node, no redirects).
      for (const n of [A, B]) {
        const v = await c.configView(n);
        check(v.vid === G.length, `${c.label(n)} on the minority side moved to view ${v.vid} ${c.list(v.members)}`);
      }
      const probes = await Promise.all([A, B].map((n) => c.probe(n, 'acquire', { lock: 'minority', owner: `probe-${c.label(n)}` })));
      probes.forEach((r, i) => expectNoSuccess(c, [A, B][i]!, r, 'on the minority side'));
      // The split cuts the nodes' peer channels only; the tester's clients reach every node. A client given only [n1,n2]
      // learns view 5's members from them and moves on to n3…n5 when they do not answer (design §5, the client's member
      // list), so it is served, and must be served by the majority's primary n3 in the majority's view, never by n1 or n2.
      const viaMinority = c.client([A, B]);
      const answered = await c.call(viaMinority, 'acquire', { lock: 'via-minority', owner: viaMinority.clientId });
      const server = viaMinority.core.primary;
      viaMinority.close();
      c.note(`a client given [n1,n2] was answered by ${server === null ? 'no known primary' : c.label(server)}: ${JSON.stringify(answered)}`);
      check(server === C.address, () => `a client given [n1,n2] was answered by ${server === null ? 'no known primary' : c.label(server)}, not by the majority's primary n3: ${JSON.stringify(answered)}`);
      check((answered as { granted?: boolean }).granted === true, () => `the majority's primary did not grant a free lock: ${JSON.stringify(answered)}`);
      check((await c.configView(C)).vid === major.vid, 'the majority side changed view while serving the client given [n1,n2]');
      await c.heal(...c.nodes);
      // Both rejoin at the end, one per view, in whichever order their requests are admitted.
      const merged = await c.until('the two sides merged into one 5-member view', async () => {
        const s = await c.status(C);
        return s.members.length === 5 && s.replicaStatus === 'normal' ? s.members : undefined;
      });
      check(sameMembers(merged.slice(0, 3), [C.address, D.address, E.address]), `merged view ${c.list(merged)} does not start with [n3,n4,n5]`);
      const order = merged.map((a) => c.nodes.find((n) => n.address === a)!);
      const final = await c.expectView(order, { history: [...h.map((v) => v.map((a) => c.nodes.find((n) => n.address === a)!)), order.slice(0, 4), order], primary: C });
      c.note(`merged: view ${final.vid} ${c.list(final.members)}`);
      check((await holderOf(c, 'minority')) === null, 'a request sent to the minority side was executed');
      await expectServes(c);
      await c.expectSameState(c.nodes);
    },
  },
];
