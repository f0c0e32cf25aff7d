/**
 * Tester scenarios with crash breakpoints (design §7): Paxos breakpoints 3 and 4 (a proposer dies
 * between prepare and accept, or between accept and decide) and RSM breakpoints 1 and 2 (a
 * replica dies around executing a request, or while committing a view), alone and cascading.
 */
import type { NodeProcess } from '../../harness/node-process.js';
import type { TesterCluster } from '../cluster.js';
import { check } from '../report.js';
import type { Scenario } from '../scenarios.js';
import { type Grant, expectServes, regroup, underLoad } from '../steps.js';
import { type History, sameMembers } from '../views.js';

export const breakpointScenarios: readonly Scenario[] = [
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
      // n4 restarts (stale, still listed): n2 and n3 remove the dead n1 with their own value. That view lists n4, which kept its
      // state on its disk, so it is not removed and re-added as when state lived in memory ([n2,n3] [n2,n3,n4]).
      await c.restart(D);
      await c.expectView([B, C, D], { history: [...G, [B, C, D]], primary: B });
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
      const [, B, C, D] = c.nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess];
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
      // Proves that acceptances are durable: the accepted value still wins once every acceptor that held it has restarted; and,
      // the replicated state being durable too, that the restarted members carry on without the silent n1, keeping the state.
      await c.grow();
      const [A, B, C, D] = c.nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      const before = await grantAndRelease(c, 'kept7');
      const accepted = await acceptedByMajorityThenDead(c, G);
      const next = G.length + 1;
      await c.kill(B, 'SIGKILL');
      await c.kill(C, 'SIGKILL');
      await Promise.all([B, C, D].map((n) => c.restart(n)));
      for (const n of [B, C]) {
        const slot = await c.acceptorSlot(n, next);
        check(slot.accepted !== null && sameMembers(slot.accepted, accepted.map((m) => m.address)),
          `${c.label(n)} restarted and no longer reports the value it accepted for view ${next}: ${JSON.stringify(slot.accepted)}`);
      }
      // Every live member restarted while n1 is silent. When state lived in memory they had to wait for n1 (it might hold the
      // only copy); now each holds on its disk everything it acknowledged in view 4, i.e. everything n1 ever answered, so a
      // majority of restarted members removes the silent n1 (ViewManagerDeps.staleMayRemoveDead, on with durable state).
      // Their next view must be the value n1 got accepted, read from the acceptors' logs; then n1 goes, n4 rejoins.
      await c.expectView([B, C, D], { history: [...G, accepted, [B, C], [B, C, D]], primary: B });
      await c.checkAgreement();
      // The state survived every restart: the fencing counter goes on above the grant made before.
      const after = await grantAndRelease(c, 'kept7', [B, C, D]);
      check(after > before, `kept7's grant after the restarts has token ${after}, not above ${before}: the replicated state was lost`);
      c.note(`kept7: token ${before} before the restarts, ${after} after`);
      // n1 returns on its data directory, removed meanwhile: it rejoins at the end of the list and gets the state.
      await c.restart(A);
      await c.expectView([B, C, D, A], { history: [...G, accepted, [B, C], [B, C, D], [B, C, D, A]], primary: B });
      await c.checkAgreement();
      await expectServes(c);
      await c.expectSameState(c.nodes);
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
      await atMostOnceAcross(c, A, /breakpoint 1: primary .* dies after backup .* executed/,
        () => regroup(c, G, A, { survivors: [B, C], primary: B, rejoin: true }));
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
      await atMostOnceAcross(c, C, /breakpoint 1: backup .* dies after executing/,
        () => regroup(c, G, C, { survivors: [A, B], primary: A, rejoin: true }));
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
];

/**
 * Scenarios 6 and 7: n4 is killed, n1 (breakpoint 4 armed) proposes to remove it and dies once a
 * majority ([n1,n2,n3]) accepted. Checks that n2 and n3 accepted it; returns the accepted view.
 */
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
    check(slot.accepted !== null && sameMembers(slot.accepted, value.map((m) => m.address)),
      `${c.label(n)} accepted ${JSON.stringify(slot.accepted)} for view ${G.length + 1}, not n1's ${c.list(value)}`);
    check(slot.decided === null, `${c.label(n)} knows view ${G.length + 1} decided although n1 died before deciding`);
  }
  return value;
}

/** Acquires and releases `lock` through a fresh client of `members`; returns the grant's fencing token. */
async function grantAndRelease(c: TesterCluster, lock: string, members: readonly NodeProcess[] = c.nodes): Promise<number> {
  const client = c.client(members);
  const owner = client.clientId;
  const g = (await c.call(client, 'acquire', { lock, owner })) as Grant;
  check(g.granted === true && g.token !== undefined, `acquire of the free lock ${lock}: ${JSON.stringify(g)}`);
  const r = await c.call(client, 'release', { lock, owner, token: g.token! });
  check(JSON.stringify(r) === JSON.stringify({ released: true }), `release of ${lock} answered ${JSON.stringify(r)}`);
  client.close();
  return g.token!;
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
