import type { Metrics } from '../env/metrics.js';
import type { Outgoing } from '../env/outbox.js';
import type { ReturnAddress } from '../env/transport.js';
import type { NodeId } from '../env/types.js';
import type { ObserveOptions } from '../options/observe.js';
import type { ClientAnswer, ClientCall, ReplicaMessage } from './messages.js';
import type { ReplicaStatus } from './replica-deps.js';
import { tableCodes } from './client-table-types.js';

/** A request being timed: its procedure label and when it arrived. */
interface Timed {
  readonly procedure: string;
  readonly atMs: number;
}

/**
 * The RSM layer's metrics, measured at the shell's edges so the replica core is untouched: a
 * client request is noted when it enters (`request`) and counted, with its latency, when its
 * answer leaves (`left`); an invoke batch is timed from leaving for a backup to that backup's
 * acknowledgement of its last seqno (`received`); the time a replica spends syncing is measured
 * from the status it shows after each handler run (`status`).
 *
 * Bounded: at most `maxTimedRequests` requests and `maxTimedInvokeBatches` batches per backup
 * are remembered (the oldest is dropped first). Label values are bounded too: a procedure the
 * app does not declare counts as `unknown`. Never throws into the layer: every hook is plain
 * map work and arithmetic on values the layer already checked.
 */
export class RsmMeter {
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #procedures: ReadonlySet<string>;
  readonly #options: ObserveOptions;
  /** Requests whose answer has not left yet, by return address (answered once each). */
  readonly #requests = new Map<ReturnAddress, Timed>();
  /** Per backup: the last seqno of each invoke batch first sent to it, and when, in seqno order. */
  readonly #batches = new Map<NodeId, Map<number, number>>();
  /** When this replica entered `syncing`, or null while it is not syncing. */
  #syncingSinceMs: number | null = null;
  #answers = 0;
  #answeredSeconds = 0;
  /** The view the batch timings belong to. */
  #vid = 0;

  constructor(metrics: Metrics, now: () => number, procedures: Iterable<string>, options: ObserveOptions) {
    this.#metrics = metrics;
    this.#now = now;
    this.#procedures = new Set(procedures);
    this.#options = options;
  }

  /** Client requests answered since this meter was made, and their summed latency (`NodeStatus.clientPath`). */
  get clientPath(): { readonly answers: number; readonly seconds: number } {
    return { answers: this.#answers, seconds: this.#answeredSeconds };
  }

  /** A client's call entered the layer. */
  request(from: ReturnAddress, call: ClientCall): void {
    if (call.kind !== 'invoke') return;
    const procedure = this.#procedures.has(call.request.proc) ? call.request.proc : 'unknown';
    if (this.#requests.size >= this.#options.maxTimedRequests) {
      const oldest = this.#requests.keys().next();
      if (oldest.done !== true) this.#requests.delete(oldest.value);
    }
    this.#requests.set(from, { procedure, atMs: this.#now() });
  }

  /** Something left the layer: an answer to a client, or a message to a peer. */
  left(o: Outgoing<ReplicaMessage, ClientAnswer>): void {
    if (o.kind === 'answer') {
      const timed = this.#requests.get(o.to);
      if (timed === undefined) return; // a `members` answer, or a timing dropped at the bound
      this.#requests.delete(o.to);
      const outcome = outcomeOf(o.answer);
      const seconds = (this.#now() - timed.atMs) / 1000;
      this.#answers++;
      this.#answeredSeconds += seconds;
      this.#metrics.count('synod_requests_total', { procedure: timed.procedure, outcome });
      this.#metrics.observe('synod_request_duration_seconds', seconds, { outcome });
      return;
    }
    if (o.msg.kind !== 'invoke' || o.msg.requests.length === 0) return;
    const last = o.msg.firstSeqno + o.msg.requests.length - 1;
    let sent = this.#batches.get(o.to);
    if (sent === undefined) this.#batches.set(o.to, (sent = new Map()));
    // A re-send keeps the first send's time: the round trip counts what a loss cost, as the client waits it.
    if (sent.has(last) || sent.size >= this.#options.maxTimedInvokeBatches) return;
    sent.set(last, this.#now());
  }

  /** A peer's message entered the layer. */
  received(from: NodeId, msg: ReplicaMessage): void {
    if (msg.kind === 'sync-chunk') {
      this.#metrics.count('synod_state_transfer_bytes_total', undefined, msg.data.length);
      return;
    }
    if (msg.kind !== 'invoke-ack') return;
    const sent = this.#batches.get(from);
    if (sent === undefined) return;
    const now = this.#now();
    for (const [last, atMs] of sent) {
      if (last > msg.vs.seqno) break; // in seqno order: the rest are not acknowledged yet
      sent.delete(last);
      // Cumulative: only the batch whose last request this ack names was timed to this ack.
      if (last === msg.vs.seqno) this.#metrics.observe('synod_invoke_round_trip_seconds', (now - atMs) / 1000);
    }
  }

  /** The replica's status after a handler run; a new view starts the invoke timings afresh. */
  status(status: ReplicaStatus, vid: number): void {
    if (status === 'syncing') {
      this.#syncingSinceMs ??= this.#now();
    } else if (this.#syncingSinceMs !== null) {
      if (status === 'normal') this.#metrics.observe('synod_state_transfer_duration_seconds', (this.#now() - this.#syncingSinceMs) / 1000);
      this.#syncingSinceMs = null;
    }
    if (vid !== this.#vid) {
      this.#vid = vid;
      this.#batches.clear(); // seqnos restart at 1 in every view
    }
  }
}

/** The client table's own refusals (the request was not run), told apart from the app's errors. */
const tableRefusals: ReadonlySet<string> = new Set(Object.values(tableCodes));

/** The outcome label of an answer: a fixed set, whatever the app's error codes are. */
function outcomeOf(answer: ClientAnswer): string {
  switch (answer.kind) {
    case 'executed':
      if (answer.outcome.ok) return 'ok';
      return tableRefusals.has(answer.outcome.code) ? 'refused' : 'app-error';
    case 'members':
      return 'ok';
    default:
      return answer.kind;
  }
}
