import type { Admission, SelfStatus } from '../config/view-manager.js';
import type { Logger } from '../env/logger.js';
import type { Outbox } from '../env/outbox.js';
import type { MemberId, Members, NodeId } from '../env/types.js';
import type { RsmOptions } from '../options.js';
import type { App, Callback } from './app.js';
import type { Outcome } from './client-table.js';
import type { ClientAnswer, ReplicaMessage, Request } from './messages.js';
import type { Viewstamp } from './viewstamp.js';
import type { DurableReplicaState, RsmRecord } from './durable-records.js';

/** The RSM core's outbox: messages to replicas, records for its durable store, and answers to clients' return addresses. */
export type RsmOutbox = Outbox<ReplicaMessage, RsmRecord, ClientAnswer>;

/**
 * The recovery task's stage in the current view (design §4):
 * - joining: this node is not a member of the current view (config asks to join);
 * - syncing: a member; the view's state transfer is not finished here (clients get BUSY);
 * - normal: a member holding the view's state; the primary serves clients.
 */
export type ReplicaStatus = 'joining' | 'syncing' | 'normal';

/** What the RSM needs of the config layer (queries and calls down). */
export interface ConfigPort {
  readonly vid: number;
  readonly status: SelfStatus;
  /** Members of view `vid` (default: the current one); `vid` must be kept (`oldestVid`..`vid`). */
  members(vid?: number): Members;
  /**
   * The same members as the view lists them (`MemberId`: with their data directories' disk ids),
   * in the same order. Default: `members` (views that list addresses alone).
   */
  memberIds?(vid?: number): Members;
  /** This node as views list it (`MemberId`); default its address. */
  readonly member?: MemberId;
  /** The oldest view config keeps (Paxos compacts old views away); default 1. */
  readonly oldestVid?: number;
  setAdmission(admission: Admission): void;
}

/** RSM crash breakpoints (design §7): 1 = after a backup executed a request; 2 = committing a view this node is in. */
export interface RsmBreakpoints {
  isArmed(n: 1 | 2): boolean;
}

/** Test-only switches that break the RSM on purpose, to prove the simulator's checkers bite. */
export interface RsmMutations {
  /** The primary executes and replies once one backup acknowledged, not all. */
  readonly replyBeforeAllAcks?: boolean;
  /** A backup executes every invoke on arrival, ignoring seqno order. */
  readonly executeOutOfOrder?: boolean;
  /** The client table is ignored: retried requests execute again. */
  readonly noClientTable?: boolean;
  /**
   * The client table answers a retry with the outcome of its client's number below it, when it
   * holds one (a window bookkeeping bug: many calls in flight per client make it possible).
   */
  readonly wrongWindowSlot?: boolean;
  /** `stateComplete` is wrongly strict (false once two views passed since the replica was normal): needless refusals. */
  readonly strictCompleteness?: boolean;
  /**
   * The client table runs an unmarked request of a client it does not know, instead of refusing
   * it: a retry of a call whose client's entry expired runs again.
   */
  readonly noExpiredRefusal?: boolean;
  /**
   * The primary re-sends every unacknowledged invoke to every backup in every retransmit period
   * (the rule before retransmit timeouts and windows): traffic multiplies with a slow backup.
   */
  readonly resendWholeWindow?: boolean;
  /**
   * A backup sends a batch's `invoke-ack` before the batch's `executed` records are durable
   * (`Outbox.sendAhead`): a crash that loses them right after leaves the primary believing in
   * requests the backup's disk forgot.
   */
  readonly ackBatchBeforeFsync?: boolean;
  /** A replica sends acknowledgements and replies before the requests they rest on are durable. */
  readonly ackBeforeDurable?: boolean;
  /**
   * The serving primary keeps no record of what it stamps (`RsmRecord`'s `stamped`), so it
   * replies to requests its own disk does not hold: a restart forgets them.
   */
  readonly stampNotDurable?: boolean;
  /** A snapshot replaces the log behind it before the snapshot is durable (`RsmStoreMutations`). */
  readonly snapshotWithoutFsync?: boolean;
  /**
   * The feed hub (`FeedHub`) starts a resuming subscription (one that names a position above 0)
   * one position too late: the subscriber silently misses the event after its position, as a
   * watch that skips an event after a failover would.
   */
  readonly skipFeedEventOnResume?: boolean;
  /**
   * The feed hub publishes events as soon as the primary's state holds them, not once the step that
   * made them is durable: a crash of a primary without backups (a view of one, a power cut) can
   * take back an event a subscriber already got.
   */
  readonly publishFeedBeforeDurable?: boolean;
  /** The serving primary believes it always holds its lease (`PrimaryLease`): it acts alone when cut off. */
  readonly serveWithoutLease?: boolean;
  /**
   * Backups report no wait for the lease they granted another primary, and a restarted node keeps
   * no promise: a new view's primary serves while the old one still holds its lease.
   */
  readonly newPrimaryWithoutWaiting?: boolean;
  /**
   * The lease keeper (`LeaseKeeper`) notes a lease's new renewal count but does not restart its
   * clock: a lease kept alive is expired its TTL after the primary first saw it, keepalives or not.
   */
  readonly leaseClockIgnoresRenewals?: boolean;
}

/** Who watches the replica (simulator checkers, tests, status). Called through the outbox. */
export interface ReplicaObserver {
  /**
   * The request stamped at `vs` executed here, with `outcome` as its answer. `ran` is false when
   * the client table answered it instead (a retry of an executed request; a stale or
   * conflicting one, whose outcome then has code `stale` or `conflict`; or one the table refused,
   * with a `tableCodes` code). A sweep of the client table `ran`.
   */
  executed?(vs: Viewstamp, request: Request, outcome: Outcome, ran: boolean): void;
  /** The replica's state was replaced by a copy of another's, standing at `last`. */
  installed?(last: Viewstamp): void;
  /**
   * The replica was constructed from its durable state, standing at `last` (null: none): what an
   * earlier process of it executed after `last` never became durable, so nothing rests on it.
   * Called from the constructor (there is no outbox yet).
   */
  restored?(last: Viewstamp | null): void;
  /** This replica became the serving primary of `vid`. */
  serving?(vid: number): void;
  /**
   * The serving primary of `vid` now believes its lease runs until `untilMs` on this node's clock
   * (`ReplicaDeps.clock`); `-Infinity` when it holds none. Called each time that bound moves.
   */
  leaseChanged?(vid: number, untilMs: number): void;
  /**
   * The serving primary of `vid` answered a query (`App.queries`) on its own, under its lease,
   * reading the state at `atMs` on its clock (the answer leaves once earlier records are durable).
   */
  queryAnswered?(vid: number, request: Request, outcome: Outcome, atMs: number): void;
}

/** Where the primary's callbacks go (the node's `CallbackHub`), and who hears its state advance (the `FeedHub`). Called through the outbox. */
export interface CallbackListener {
  /** Callbacks to push to clients (primary only; see `App.callbacks`). */
  onCallbacks(callbacks: readonly Callback[]): void;
  /**
   * The serving primary's feeds (`App.feeds`) reached `heads` (by feed name): it executed an app
   * request, or it started serving, and the heads are those of the state right after that step.
   * Called once per such step, after what the step persisted is durable: events up to these heads
   * survive any crash, and may be published (the state itself may already be ahead, by steps
   * whose records are not durable yet). `at` is the viewstamp the state stood at after that step:
   * while the replica's `lastExecuted` is still `at`, the state is exactly the durable one.
   */
  onAdvanced?(heads: ReadonlyMap<string, number>, at: Viewstamp | null): void;
}

export interface ReplicaDeps<S> {
  readonly self: NodeId;
  /** This node's monotonic clock (the lease is measured on it; the simulator's may drift). */
  readonly clock: { now(): number };
  readonly app: App<S>;
  readonly config: ConfigPort;
  readonly logger: Logger;
  /**
   * True only for the first node of a brand-new cluster that holds no durable state yet: it holds
   * the app's initial state at viewstamp (0, 0), and persists that it does (a `genesis` record)
   * before anything else. Every other replica starts from `durable`.
   */
  readonly genesis: boolean;
  /**
   * What earlier processes of this replica made durable (`RsmStore.load`); replayed at
   * construction. Absent: nothing (a new node, or a test without a disk).
   */
  readonly durable?: DurableReplicaState;
  /** Resolved where the node is composed (`NodeStack`: `withDefaults`). */
  readonly options: RsmOptions;
  readonly breakpoints?: RsmBreakpoints;
  readonly mutations?: RsmMutations;
  /**
   * Test-only check, on in the simulator: the app's guard compares the marshalled state before and
   * after every query and stops on a difference (`AppGuardOptions.verifyQueries`). Default off.
   */
  readonly verifyQueries?: boolean;
  readonly observer?: ReplicaObserver;
  /** Hears the callbacks the app emits (an app with `App.callbacks`); default: they are dropped. */
  readonly callbacks?: CallbackListener;
}

export const rsmTimers = {
  invokeRetry: 'rsm-invoke-retry',
  syncRetry: 'rsm-sync-retry',
  /** The serving primary asks for its lease again (every `leaseRenewMs`). */
  leaseRenew: 'rsm-lease-renew',
  /** A new view's primary serves once its own promise to the previous primary ran out. */
  leaseWait: 'rsm-lease-wait',
} as const;
