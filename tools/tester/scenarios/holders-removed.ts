/**
 * Tester scenario about durable state (issue 13): the members that hold the complete state are
 * removed, the view refuses, and a removed holder that comes back (SIGKILLed while cut off and
 * restarted on its disk) is proven complete and becomes the view's source, on real processes (the
 * simulator's RsmScenario 112, where it only heals). State transfer is kept
 * from happening with the test control's channel cut (`Partition` with `services`): the RSM's
 * peer channel between n1 and the others is cut while Paxos and config traffic flows, so views
 * change but never sync.
 */
import { configCodec } from '../../../src/config/codec.js';
import { replicaCodec } from '../../../src/rsm/codec.js';
import type { NodeProcess } from '../../harness/node-process.js';
import type { TesterCluster } from '../cluster.js';
import { expectLocksKept, holdLocks, tokenMark } from '../held-locks.js';
import { check } from '../report.js';
import type { Scenario } from '../scenarios.js';
import { expectServes, logged } from '../steps.js';
import { heldLockSessionTimeoutMs, joinTimeoutMs, restartServeTimeoutMs, viewChangeTimeoutMs } from '../timing.js';
import { sameMembers } from '../views.js';

/** The nodes keep plain clients' sessions for longer than the scenario (see `heldLockSessionTimeoutMs`). */
const nodeArgs = ['--session-timeout-ms', String(heldLockSessionTimeoutMs)];

/**
 * Waits until every node of `members` is a member of one view listing exactly `members` (in
 * order), serving or not; returns its vid.
 */
async function viewOn(c: TesterCluster, members: readonly NodeProcess[], what: string, timeoutMs = viewChangeTimeoutMs): Promise<number> {
  const want = members.map((m) => m.address);
  return c.until(what, async () => {
    const s = await Promise.all(members.map((n) => c.status(n)));
    const vid = s[0]!.vid;
    return s.every((x) => x.vid === vid && x.configStatus === 'member' && sameMembers(x.members, want)) ? vid : undefined;
  }, timeoutMs);
}

/** `n`, asked directly, answers a client BUSY (the view does not serve), with the refusal's reason if `reason` is given. */
async function expectBusy(c: TesterCluster, n: NodeProcess, when: string, reason?: RegExp): Promise<void> {
  const r = await c.probe(n, 'stat', { lock: 'probe' });
  const busy = r.kind === 'answer' && r.answer.kind === 'busy' ? r.answer : null;
  check(busy !== null && (reason === undefined || reason.test(busy.reason)),
    () => `${c.label(n)} ${when} answered ${JSON.stringify(r)}, not a BUSY${reason === undefined ? '' : ` saying ${reason}`}`);
  c.note(`${c.label(n)} ${when}: busy (${busy!.reason}), retry after ${busy!.retryAfterMs} ms`);
}

/** What the primary logs when no member holds a complete state (`PrimarySync`). */
const refusalLine = 'rsm: no member of the view holds a complete replicated state; the view will not serve until a node that holds one (a removed member, with its disk) rejoins';
/** What the primary logs when it copies a backup's state, proven complete, before serving (`PrimarySync`). */
const pullLine = 'rsm: a backup holds a newer state; copying it before serving';

export const holdersRemovedScenarios: readonly Scenario[] = [
  {
    number: 26,
    name: 'every holder of the state removed (state transfer cut), the view refuses; the removed holder, restarted on its disk, rejoins, is proven complete, and every lock survives',
    nodes: 3,
    nodeArgs,
    async run(c) {
      // Proves a removed node that holds the only complete state is its source again once it restarts and rejoins: nothing acknowledged is lost.
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      await c.grow(2);
      const G = c.growth(2);
      const both = await holdLocks(c, 'both', [A, B]);

      // n1 removes n2. n2 drops config traffic with n1 first, so that once removed it cannot ask to
      // rejoin (its join requests go to n1) until it is healed; Paxos still flows, so n2's acceptor
      // helps decide its removal. Neither node proposes a removal by itself: in a view of two, a
      // silent peer leaves no live majority.
      await c.cut(B, [A], [configCodec.service]);
      await c.propose(A, G.length + 1, [A]);
      await c.expectView([A], { history: [...G, [A]], primary: A });
      const alone = await holdLocks(c, 'alone', [A]); // acknowledged in view [n1] alone: n2 lacks them
      const mark = await tokenMark(c, 'mark', [A]);

      // From now on n1 exchanges no RSM message with the others: views change, but never sync.
      await c.cut(A, [B, C], [replicaCodec.service]);
      await c.heal(B);
      await viewOn(c, [A, B], 'n2 rejoins: view [n1,n2]', joinTimeoutMs);
      await expectBusy(c, A, 'primary of [n1,n2] that cannot sync');
      // A syncing view admits no joiner: n1 adds n3 itself, as the simulator's scenario does.
      await c.start(C);
      const withC = await viewOn(c, [A, B], 'n1 still in [n1,n2]');
      await c.propose(A, withC + 1, [A, B, C]);
      await viewOn(c, [A, B, C], 'n3 added: view [n1,n2,n3]');

      // The only holder is cut off and removed: [n2,n3] holds no complete state and refuses.
      await c.isolate(A);
      const refusedVid = await c.until('[n2,n3] refuses', async () => {
        const [sb, sc] = await Promise.all([c.status(B), c.status(C)]);
        const ok = sb.vid === sc.vid && sameMembers(sb.members, [B.address, C.address]) && sameMembers(sc.members, sb.members) &&
          sb.primary === B.address && sb.refusing;
        return ok ? sb.vid : undefined;
      }, viewChangeTimeoutMs);
      c.note(`view ${refusedVid} [n2,n3] refuses`);
      await expectBusy(c, B, 'primary of [n2,n3] that holds no complete state', /no member of the view holds a complete replicated state/);
      const refused = await c.status(C);
      check(refused.replicaStatus !== 'normal', `n3 is ${refused.replicaStatus} in [n2,n3], which holds no complete state`);

      // n1 restarts on its disk (its cuts die with the process) and rejoins with its state; n2
      // testifies that the views since n1's last one never served.
      await c.kill(A, 'SIGKILL');
      await c.heal(B, C);
      const restartedAt = performance.now();
      await c.restart(A);
      const served = await c.expectView([B, C, A], {
        history: [...G, [A], [A, B], [A, B, C], [B, C], [B, C, A]], primary: B, timeoutMs: restartServeTimeoutMs,
      });
      c.note(`[n2,n3,n1] serves ${((performance.now() - restartedAt) / 1000).toFixed(1)} s after n1's restart`);
      // The view served n1's state, copied by n2: the proof, not luck (n2's own state lacks view 3's requests).
      check(logged(c, B, refusalLine).some((l) => l['vid'] === refusedVid), `n2's log does not say that view ${refusedVid} [n2,n3] refused for want of a complete state`);
      const pulls = logged(c, B, pullLine).filter((l) => l['vid'] === served.vid);
      check(pulls.length > 0 && pulls.every((l) => l['source'] === A.address),
        () => `n2 did not copy n1's state before serving view ${served.vid}: ${JSON.stringify(pulls)}`);
      c.note(`n2 copied n1's state ${String(pulls[0]!['target'])} over its own ${String(pulls[0]!['vs'])} in view ${served.vid}`);
      const after = await expectLocksKept(c, alone, mark);
      await expectLocksKept(c, both, after);
      await expectServes(c);
      await c.checkAgreement();
      await c.expectSameState(c.nodes);
    },
  },
];
