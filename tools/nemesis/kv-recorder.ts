import type { ObservedCall, RsmCallObserver } from '../../src/client/rsm-client.js';
import type { CallResult } from '../../src/client/client-core.js';
import { kvCalls } from '../lincheck/kv-mappings.js';
import type { KvInput, KvOutput } from '../lincheck/kv-model.js';
import { HistoryRecorder } from '../lincheck/recorder.js';
import type { History, Operation } from '../lincheck/types.js';
import type { WatchEvent } from '../tester/kv-watch-check.js';

/** How a lease the workload granted ended on the client's side. */
type Revoke = 'none' | 'ok' | 'refused' | 'unknown';

/**
 * Records the KV workload's calls as a history for `kvModel` (lincheck's `HistoryRecorder` with
 * `kvCalls`, one lane per client), and adds the lease expiries the nodes decided, which no client
 * observer sees. Each expiry is the node's `leaseExpire({ id })`, an operation of its own lane:
 * - called when the last keepalive of it that succeeded was called, or its grant (it cannot have
 *   happened earlier; an interval that starts early only lets the checker consider more orders);
 * - with a known outcome when the reference watcher (every key, `prevKv`) got a revision whose
 *   changes are all deletes of the lease's one key `e/ID`, and no revoke of the lease may have
 *   made it (the client never revoked it, or its revoke was refused: the lease was gone already):
 *   `{ expired: true, deleted: 1, revision }`, returned when the watcher received that revision;
 * - otherwise with an unknown outcome (it may have happened, at any time after, or never): a
 *   lease that expired before its key was put makes no revision, and a revoke with an unknown
 *   outcome may be what deleted the key.
 * A lease the client revoked with success gets none: a later expiry of it would change nothing.
 */
export class KvHistoryRecorder {
  readonly #recorder = new HistoryRecorder<KvInput, KvOutput>(kvCalls);
  readonly #lanes = new Map<string, string>();
  readonly #leases = new Map<number, { grantedAt: number; aliveAt: number; revoke: Revoke }>();
  readonly #receivedAt = new Map<number, number>();
  #recording = true;

  observerFor(lane: string): RsmCallObserver {
    return {
      invoked: (call: ObservedCall, atMs: number) => {
        this.#lanes.set(call.clientId, lane);
        if (this.#recording) this.#recorder.invoked(call, atMs);
      },
      completed: (call: ObservedCall, result: CallResult, atMs: number) => {
        if (this.#recording) this.#recorder.completed(call, result, atMs);
      },
    };
  }

  leaseGranted(id: number, calledAt: number): void {
    if (this.#recording) this.#leases.set(id, { grantedAt: calledAt, aliveAt: calledAt, revoke: 'none' });
  }

  /**
   * A keepalive of lease `id` called at `calledAt` succeeded: the lease was alive when it executed,
   * after `calledAt`, so its expiry came later. The expiry's interval starts there (narrower
   * intervals keep the search small).
   */
  leaseKeptAlive(id: number, calledAt: number): void {
    const lease = this.#leases.get(id);
    if (lease !== undefined && this.#recording) lease.aliveAt = Math.max(lease.aliveAt, calledAt);
  }

  leaseRevoked(id: number, outcome: Exclude<Revoke, 'none'>): void {
    const lease = this.#leases.get(id);
    if (lease !== undefined && this.#recording) lease.revoke = outcome;
  }

  /** The reference watcher received `revision` at `atMs` (the recorder's clock: `performance.now()`). */
  revisionReceived(revision: number, atMs: number): void {
    if (!this.#receivedAt.has(revision)) this.#receivedAt.set(revision, atMs);
  }

  stop(): void {
    this.#recording = false;
  }

  /** The clients' operations, then one expiry per lease not revoked with success (see the class comment). */
  history(reference: readonly WatchEvent[]): History<KvInput, KvOutput> {
    const calls = this.#recorder.history().map((op) => ({ ...op, client: this.#lanes.get(op.client) ?? op.client }));
    const deletedBy = new Map<string, number>();
    for (const e of reference) {
      if (e.events.length === 1 && e.events[0]!.type === 'delete' && e.events[0]!.kv.key.startsWith('e/')) deletedBy.set(e.events[0]!.kv.key, e.revision);
    }
    const expiries: Operation<KvInput, KvOutput>[] = [];
    for (const [id, lease] of this.#leases) {
      if (lease.revoke === 'ok') continue;
      const revision = deletedBy.get(`e/${id}`);
      const receivedAt = revision === undefined ? undefined : this.#receivedAt.get(revision);
      const known = lease.revoke !== 'unknown' && revision !== undefined && receivedAt !== undefined;
      expiries.push({
        id: calls.length + expiries.length, client: `expire ${id}`, input: { proc: 'leaseExpire', id }, call: lease.aliveAt,
        ret: known ? receivedAt : undefined, output: known ? { expired: true, deleted: 1, revision: revision! } : undefined,
      });
    }
    return [...calls, ...expiries];
  }

  /** Known and unknown outcomes of the clients' calls, refusals left out, and expiries added. */
  counts(history: History<KvInput, KvOutput>): { completed: number; unknown: number; refused: number; expiries: number; knownExpiries: number } {
    const expiries = history.filter((op) => op.client.startsWith('expire '));
    const calls = history.length - expiries.length;
    const completed = history.filter((op) => !op.client.startsWith('expire ') && op.output !== undefined).length;
    return { completed, unknown: calls - completed, refused: this.#recorder.size - calls, expiries: expiries.length, knownExpiries: expiries.filter((op) => op.output !== undefined).length };
  }
}
