import type { Json } from '../../../src/rsm/app.js';
import type { KvInput, KvOutput } from '../../lincheck/kv-model.js';
import type { History, Operation } from '../../lincheck/types.js';
import type { KvReference } from '../kv-reference.js';
import type { Simulation } from '../simulation.js';

/** Figures of one run's lease check. */
export interface KvLeaseFigures {
  /** Expiries whose timing was checked (a known grant, a known renewal count). */
  expiriesChecked: number;
  /** Lease ends (expiries and revokes) whose keys were checked against the revision history. */
  endsChecked: number;
  /** The smallest slack seen: virtual ms between the earliest an expiry was allowed and when it came (-1: none). */
  minSlackMs: number;
}

const field = (v: KvOutput | undefined, name: string): Json | undefined =>
  (typeof v === 'object' && v !== null && !Array.isArray(v) ? v[name] : undefined);

type Op = Operation<KvInput, KvOutput>;

/**
 * The KV store's leases, checked on the run's history (clients' calls and the nodes' own
 * `leaseExpire` requests, `InternalOpRecorder`) and its committed revision history (`KvReference`):
 *
 * 1. No lease expires before its TTL has passed since the last renewal that took effect was sent
 *    (the grant, or a keepalive), give or take the clocks' drift ρ: the expiry (first executed
 *    anywhere) comes at least `ttl / (1 + ρ)` of virtual time after it. Which keepalive was the
 *    last to take effect is not observable, but the expiry names the lease's renewal count n,
 *    and only the lease's owner renews it, so the n-th keepalive the owner sent (the ones the
 *    store certainly refused left out) is the earliest it can have been: the bound is sound. A
 *    count above the keepalives sent is itself a failure.
 * 2. Every ended lease (expired or revoked) takes exactly its keys with it, in one revision: the
 *    revision it names deletes exactly the live keys attached to it, in key order, and nothing
 *    else; one without keys makes no revision and leaves no key attached; and no put attaches a
 *    key to it afterwards.
 *
 * `internalClient` names the pseudo-client the nodes' requests are recorded under; `driftRate` is
 * the largest rate error of any clock in the run (ρ).
 */
export function checkKvLeases(sim: Simulation, history: History<KvInput, KvOutput>, reference: KvReference, internalClient: string, driftRate: number): KvLeaseFigures {
  const figures: KvLeaseFigures = { expiriesChecked: 0, endsChecked: 0, minSlackMs: -1 };
  const grants = new Map<number, { op: Op; ttlSeconds: number }>();
  const keepalives = new Map<number, Op[]>();
  for (const op of history) {
    if (op.input.proc === 'leaseGrant' && typeof field(op.output, 'id') === 'number') {
      grants.set(field(op.output, 'id') as number, { op, ttlSeconds: field(op.output, 'ttl') as number });
    }
    // A keepalive refused `lease-not-found` renewed nothing; every other one may have.
    if (op.input.proc === 'leaseKeepAlive' && field(op.output, 'error') !== 'lease-not-found') {
      const list = keepalives.get(op.input.id) ?? [];
      list.push(op);
      keepalives.set(op.input.id, list);
    }
  }
  /** Lease ends by the revision they name: the lease and how many keys it says it deleted. */
  const ends = new Map<number, Array<{ id: number; deleted: number; what: string }>>();
  for (const op of history) {
    const { input } = op;
    const expired = input.proc === 'leaseExpire' && op.client === internalClient && field(op.output, 'expired') === true;
    const revoked = input.proc === 'leaseRevoke' && typeof field(op.output, 'revision') === 'number';
    if (!expired && !revoked) continue;
    const id = (input as { id: number }).id;
    const end = { id, deleted: field(op.output, 'deleted') as number, what: `${input.proc} of lease ${id}` };
    const revision = field(op.output, 'revision') as number;
    ends.set(revision, [...(ends.get(revision) ?? []), end]);
    if (expired) checkExpiryTiming(sim, op, grants.get(id), keepalives.get(id) ?? [], driftRate, figures);
  }
  checkLeaseEnds(sim, reference, ends, figures);
  return figures;
}

/** Property 1 for one expiry `op` (see `checkKvLeases`). */
function checkExpiryTiming(sim: Simulation, op: Op, grant: { op: Op; ttlSeconds: number } | undefined, keepalives: readonly Op[], driftRate: number, figures: KvLeaseFigures): void {
  const input = op.input as Extract<KvInput, { proc: 'leaseExpire' }>;
  if (grant === undefined || input.renewals === undefined) return; // granted with an unknown outcome: its id and grant time are not known
  const sent = [...keepalives].sort((a, b) => a.call - b.call);
  if (input.renewals > sent.length) {
    sim.fail(`kv leases: lease ${input.id} expired with ${input.renewals} renewals, but its owner sent only ${sent.length} keepalives`);
    return;
  }
  const renewedAt = input.renewals === 0 ? grant.op.call : sent[input.renewals - 1]!.call;
  const earliest = renewedAt + (grant.ttlSeconds * 1000) / (1 + driftRate);
  figures.expiriesChecked++;
  const slack = op.call - earliest;
  figures.minSlackMs = figures.minSlackMs < 0 ? Math.max(0, slack) : Math.min(figures.minSlackMs, Math.max(0, slack));
  if (slack < -1e-6) {
    sim.fail(`kv leases: lease ${input.id} (ttl ${grant.ttlSeconds} s) expired at ${op.call.toFixed(1)} ms, ${(op.call - renewedAt).toFixed(1)} ms after its renewal ` +
      `${input.renewals} was sent at ${renewedAt.toFixed(1)} ms: earlier than its TTL allows (drift ${driftRate})`);
  }
}

/** Property 2: replays the committed history and checks each lease end at the revision it names (not in a hole of the reference, where the store is unknown). */
function checkLeaseEnds(sim: Simulation, reference: KvReference, ends: ReadonlyMap<number, ReadonlyArray<{ id: number; deleted: number; what: string }>>, figures: KvLeaseFigures): void {
  const ended = new Set<number>();
  type Live = ReadonlyMap<string, { lease: number }> | null;
  const attachedTo = (live: ReadonlyMap<string, { lease: number }>, id: number): string[] => [...live].filter(([, r]) => r.lease === id).map(([k]) => k).sort();
  /** An end without keys named the revision it found: `live` is the store then. */
  const checkEmptyEnd = (r: number, live: Live): void => {
    for (const end of ends.get(r) ?? []) {
      if (end.deleted !== 0) continue;
      ended.add(end.id);
      if (live === null) continue;
      figures.endsChecked++;
      const keys = attachedTo(live, end.id);
      if (keys.length > 0) sim.fail(`kv leases: ${end.what} deleted no key at revision ${r}, but ${keys.join(', ')} were attached to it`);
    }
  };
  const final = reference.replay((r, before) => {
    checkEmptyEnd(r - 1, before);
    const changes = reference.changes(r);
    // An end that deleted keys made revision r: exactly the deletions of its keys, in key order.
    for (const end of ends.get(r) ?? []) {
      if (end.deleted === 0) continue;
      ended.add(end.id);
      if (before === null || changes === null) continue;
      figures.endsChecked++;
      const keys = attachedTo(before, end.id);
      const deletes = changes.filter((c) => c.type === 'delete').map((c) => c.key);
      if (changes.length !== deletes.length || deletes.join('\u0000') !== keys.join('\u0000') || deletes.length !== end.deleted) {
        sim.fail(`kv leases: ${end.what} at revision ${r} (reported ${end.deleted} deleted) made ${JSON.stringify(changes.map((c) => `${c.type} ${c.type === 'put' ? c.kv.key : c.key}`))}, ` +
          `where its attached keys were ${JSON.stringify(keys)}`);
      }
    }
    for (const c of changes ?? []) {
      if (c.type === 'put' && c.kv.lease !== 0 && ended.has(c.kv.lease)) sim.fail(`kv leases: revision ${r} attached ${c.kv.key} to lease ${c.kv.lease}, which had ended`);
    }
  });
  checkEmptyEnd(reference.head, final);
}
