// A replica core driven by hand, with the test playing every other node: a serving primary whose
// backups the test acknowledges for, or a backup the test sends invokes to as its primary.
import assert from 'node:assert/strict';
import { type TestState, testApp } from '../../src/apps/test-app.js';
import type { Admission, SelfStatus } from '../../src/config/view-manager.js';
import { silentLogger } from '../../src/env/logger.js';
import { Outbox } from '../../src/env/outbox.js';
import type { ReturnAddress } from '../../src/env/transport.js';
import type { Members, NodeId } from '../../src/env/types.js';
import { type RsmOptions, rsmOptions } from '../../src/options.js';
import type { Json } from '../../src/rsm/app.js';
import { type ClientAnswer, type ReplicaMessage, type Request, newRequest } from '../../src/rsm/messages.js';
import { Replica, type RsmMutations, type RsmOutbox, rsmTimers } from '../../src/rsm/replica.js';
import type { DurableReplicaState, RsmRecord } from '../../src/rsm/durable-records.js';

export interface HandDriven {
  readonly replica: Replica<TestState>;
  /** Seqnos executed here, in order. */
  readonly executed: number[];
  /** Every record the replica persisted, in order, as its disk would hold them. */
  readonly disk: RsmRecord[];
  /** Commits the next view, listing `members`; returns that handler's outbox. */
  nextView(members: Members): RsmOutbox;
  /** Runs one handler with a fresh outbox and its upcalls; returns the outbox. */
  run(f: (out: RsmOutbox) => void): RsmOutbox;
}

export interface HandDrivenOptions {
  readonly options?: Partial<RsmOptions>;
  readonly mutations?: RsmMutations;
  /** The replica's clock (default: always 0). */
  readonly now?: () => number;
  /** Restart from this disk (`RsmStore.load`'s result) instead of holding the initial state. */
  readonly durable?: DurableReplicaState;
}

/** A replica `self` of view 1 = `members` (every node holding the initial state); later views by `nextView`. */
function replicaOf(self: NodeId, members: Members, opts: HandDrivenOptions): HandDriven {
  const views: Members[] = [members];
  const config = {
    get vid() { return views.length; },
    get status(): SelfStatus { return 'member'; },
    members: (vid?: number) => views[(vid ?? views.length) - 1]!,
    setAdmission: (_a: Admission) => {},
  };
  const executed: number[] = [];
  const replica = new Replica<TestState>({
    clock: { now: opts.now ?? (() => 0) }, self, app: testApp, config, logger: silentLogger, genesis: opts.durable === undefined, durable: opts.durable, mutations: opts.mutations ?? {}, options: rsmOptions(opts.options),
    observer: { executed: (vs) => executed.push(vs.seqno) },
  });
  const disk: RsmRecord[] = [];
  const run = (f: (out: RsmOutbox) => void): RsmOutbox => {
    const out: RsmOutbox = new Outbox();
    f(out);
    disk.push(...out.records);
    for (const u of out.upcalls) u();
    return out;
  };
  const nextView = (next: Members): RsmOutbox => {
    views.push(next);
    return run((out) => replica.onViewCommitted(out));
  };
  return { replica, executed, disk, run, nextView };
}

export interface DrivenPrimary extends HandDriven {
  /** A client's call; returns what the primary sent and answered at once. */
  call(from: ReturnAddress, request: Request): RsmOutbox;
  /** Backup `from` acknowledges `seqno`; returns the answers that released. */
  ack(from: NodeId, seqno: number): ClientAnswer[];
  /** Backup `from` acknowledges `seqno`; returns that handler's whole outbox. */
  ackOut(from: NodeId, seqno: number): RsmOutbox;
  /** One period of the retransmit timer; returns `[backup, seqno]` of every invoke re-sent. */
  tick(): Array<[NodeId, number]>;
}

/** The serving primary `p` of view 1 = [p, ...backups]; every backup reported the same state. */
export function drivenPrimary(backups: readonly NodeId[] = ['b'], opts: HandDrivenOptions = {}): DrivenPrimary {
  const h = replicaOf('p', ['p', ...backups], opts);
  h.run((out) => h.replica.onViewCommitted(out));
  for (const b of backups) h.run((out) => h.replica.onMessage(b, { kind: 'sync-status', vid: 1, last: { vid: 0, seqno: 0 }, complete: true, syncedVid: 1, leaseWaitMs: 0 }, out));
  assert.ok(h.replica.isPrimary && h.replica.status === 'normal');
  const ackOut = (from: NodeId, seqno: number): RsmOutbox => h.run((o) => h.replica.onMessage(from, { kind: 'invoke-ack', vs: { vid: 1, seqno } }, o));
  return {
    ...h,
    call: (from, request) => h.run((o) => h.replica.onClientCall(from, { kind: 'invoke', request }, o)),
    ack: (from, seqno) => ackOut(from, seqno).answers.map((x) => x.answer),
    ackOut,
    tick: () => h.run((o) => h.replica.onTimer(rsmTimers.invokeRetry, o)).sends
      .flatMap((s) => (s.msg.kind === 'invoke' ? invokedSeqnos(s.msg).map((seqno) => [s.to, seqno] as [NodeId, number]) : [])),
  };
}

export interface DrivenBackup extends HandDriven {
  /** Primary `p` sends the invoke at `seqno` (a batch of one); returns the seqnos acknowledged in answer. */
  invoke(seqno: number, request: Request): number[];
  /** Primary `p` sends a batch of `requests` from `firstSeqno`; returns the (cumulative) seqnos acknowledged in answer. */
  invokeBatch(firstSeqno: number, requests: readonly Request[]): number[];
}

/** The seqnos an `invoke` batch carries. */
export function invokedSeqnos(m: Extract<ReplicaMessage, { kind: 'invoke' }>): number[] {
  return m.requests.map((_, i) => m.firstSeqno + i);
}

/** A replica `self` of view 1 = `members` that has not synced yet (the test drives the view's state transfer). */
export function drivenReplica(self: NodeId, members: Members, opts: HandDrivenOptions = {}): HandDriven {
  return replicaOf(self, members, opts);
}

/** Backup `b` of view 1 = [p, b], holding the view's state. */
export function drivenBackup(opts: HandDrivenOptions = {}): DrivenBackup {
  const h = replicaOf('b', ['p', 'b'], opts);
  h.run((out) => h.replica.onViewCommitted(out));
  h.run((out) => h.replica.onMessage('p', { kind: 'sync-reply', vid: 1, action: 'up-to-date', target: { vid: 0, seqno: 0 } }, out));
  assert.ok(!h.replica.isPrimary && h.replica.status === 'normal');
  const batch = (firstSeqno: number, requests: readonly Request[]): number[] =>
    h.run((o) => h.replica.onMessage('p', { kind: 'invoke', vid: 1, firstSeqno, requests }, o)).sends
      .flatMap((s) => (s.msg.kind === 'invoke-ack' ? [s.msg.vs.seqno] : []));
  return {
    ...h,
    invoke: (seqno, request) => batch(seqno, [request]),
    invokeBatch: (firstSeqno, requests) => batch(firstSeqno, requests),
  };
}

/** An append of `item` by `clientId` at `seq`; `padTo` pads its arguments to about that many bytes. */
export function append(seq: number, item: string, clientId = 'c', padTo = 0): Request {
  const args: Json = padTo > 0 ? { item, pad: 'x'.repeat(Math.max(0, padTo - item.length - 20)) } : { item };
  return newRequest(clientId, seq, 'append', args);
}
