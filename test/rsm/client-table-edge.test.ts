// The client table's edges: the sweep is synod's own procedure (refused from clients, run only
// when the node submits it), the new-client mark crosses the wire, a replica refuses an unknown
// client's unmarked request, and an app cannot answer with the table's own refusal codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidMessageError } from '../../src/env/errors.js';
import { Outbox } from '../../src/env/outbox.js';
import { silentLogger } from '../../src/env/logger.js';
import { ReturnAddress } from '../../src/env/transport.js';
import type { Members } from '../../src/env/types.js';
import type { Admission, SelfStatus } from '../../src/config/view-manager.js';
import { defaultRsmOptions } from '../../src/options.js';
import { AppError, defineApp, jsonState } from '../../src/rsm/app.js';
import { sweepProc } from '../../src/rsm/client-table.js';
import { sweepArgs } from '../../src/rsm/client-sweep.js';
import { clientServiceCodec, replicaCodec } from '../../src/rsm/codec.js';
import { type ClientAnswer, newRequest } from '../../src/rsm/messages.js';
import { Replica, type RsmOutbox } from '../../src/rsm/replica.js';

const app = defineApp<{ n: number }>({
  name: 'edge-test',
  version: '1.0.0',
  initialState: () => ({ n: 0 }),
  handlers: {
    add: (s) => ++s.n,
    pretend: (_s, args) => {
      throw new AppError(String(args), 'an app using the table\'s codes');
    },
  },
  queries: {
    read: (s) => s.n,
  },
  marshalState: (s) => jsonState.marshal(s),
  unmarshalState: (d) => jsonState.unmarshal(d) as { n: number },
});

/** A replica of `app` that is its own one-member view's serving primary. */
function servingPrimary(): { replica: Replica<{ n: number }>; call: (request: ReturnType<typeof newRequest>, internal?: boolean) => ClientAnswer } {
  const views: Members[] = [['a']];
  const config = {
    get vid() { return views.length; },
    get status(): SelfStatus { return 'member'; },
    members: (vid?: number) => views[(vid ?? views.length) - 1]!,
    setAdmission: (_a: Admission) => {},
  };
  const replica = new Replica({ clock: { now: () => 0 }, self: 'a', app, config, logger: silentLogger, genesis: true, options: defaultRsmOptions });
  const run = (f: (out: RsmOutbox) => void): RsmOutbox => {
    const out: RsmOutbox = new Outbox();
    f(out);
    return out;
  };
  run((out) => replica.onViewCommitted(out));
  let calls = 0;
  const call = (request: ReturnType<typeof newRequest>, internal = false): ClientAnswer => {
    const out = run((o) => replica.onClientCall(new ReturnAddress(`c ${++calls}`), { kind: 'invoke', request: internal ? { ...request, internal: true } : request }, o));
    assert.equal(out.answers.length, 1);
    return out.answers[0]!.answer;
  };
  return { replica, call };
}

const sweep = (nowMs: number) => newRequest('synod:sweep@a', nowMs, sweepProc, sweepArgs({ nowMs, limits: { retentionMs: 1000, maxClients: 10, evictableAfterMs: 500 } }));

test('the client service refuses synod\'s own procedures at the edge; an invoke between replicas carries them', () => {
  // Proves no client can send the sweep, while a primary can replicate it to its backups.
  const wire = clientServiceCodec.encodeRequest({ kind: 'invoke', request: { ...sweep(1), clientId: 'c' } });
  assert.throws(() => clientServiceCodec.decodeRequest(wire), (e: unknown) => e instanceof InvalidMessageError && e.field === 'invoke.request.proc' && /reserved/.test(e.reason));
  const invoke = replicaCodec.decode(replicaCodec.encode({ kind: 'invoke', vid: 1, firstSeqno: 1, requests: [sweep(1)] }));
  assert.ok(invoke.kind === 'invoke' && invoke.requests[0]!.proc === sweepProc);
});

test('the new-client mark survives encoding both ways, and is false when absent', () => {
  // Proves the mark reaches the table on every replica.
  for (const first of [true, false]) {
    const call = clientServiceCodec.decodeRequest(clientServiceCodec.encodeRequest({ kind: 'invoke', request: newRequest('c', 1, 'add', null, first) }));
    assert.ok(call.kind === 'invoke' && call.request.first === first);
    const invoke = replicaCodec.decode(replicaCodec.encode({ kind: 'invoke', vid: 1, firstSeqno: 1, requests: [newRequest('c', 1, 'add', null, first)] }));
    assert.ok(invoke.kind === 'invoke' && invoke.requests[0]!.first === first);
  }
  const bare = clientServiceCodec.decodeRequest({ invoke: { request: { client_id: 'c', seq: 1, proc: 'add', args: 'null' } } });
  assert.ok(bare.kind === 'invoke' && bare.request.first === false);
});

test('a sweep runs only as the node\'s own call; from a client it is an unknown procedure', () => {
  // Proves the replica itself refuses the sweep from the network, should it get past the codec.
  const { replica, call } = servingPrimary();
  assert.deepEqual(call(sweep(5)), { kind: 'invalid', clientId: 'synod:sweep@a', seq: 5, field: 'proc', reason: `unknown procedure "${sweepProc}"` });
  const answer = call(sweep(5), true);
  assert.ok(answer.kind === 'executed' && answer.outcome.ok);
  assert.deepEqual(answer.outcome.value, { clockMs: 5, dropped: 0, evicted: 0, clients: 0 });
  assert.equal(replica.clients, 0, 'the sweep keeps no entry of its own');
});

test('a replica refuses an unknown client\'s unmarked request as client-expired and runs its marked one', () => {
  // Proves the refusal end to end through the replica: nothing runs, and the answer is the table's code.
  const { replica, call } = servingPrimary();
  const refused = call(newRequest('c', 7, 'add', null, false));
  assert.ok(refused.kind === 'executed' && !refused.outcome.ok && refused.outcome.code === 'client-expired', JSON.stringify(refused));
  assert.equal(replica.state!.n, 0);
  const again = call(newRequest('c', 7, 'add', null, true));
  assert.deepEqual(again, refused, 'a copy of the refused request gets the same answer, marked or not');
  const other = call(newRequest('c', 8, 'add', null, false));
  assert.ok(other.kind === 'executed' && !other.outcome.ok && other.outcome.code === 'client-expired', 'another unmarked call sent before the client learned is refused too');
  const renumbered = call({ ...newRequest('c', 9, 'add', null, true), answeredBelow: 9 });
  assert.deepEqual(renumbered.kind === 'executed' && renumbered.outcome, { ok: true, value: 1 }, 'the client\'s marked call above all it used runs');
  assert.deepEqual(call(newRequest('c', 8, 'add', null, false)), { kind: 'stale', clientId: 'c', seq: 8 }, 'the older call is late now, never run');
  const next = call(newRequest('c', 10, 'add', null, false));
  assert.deepEqual(next.kind === 'executed' && next.outcome, { ok: true, value: 2 }, 'the client is known again');
});

test('an unmarked query of a client the table does not know runs but leaves the table alone: a write of that client still cannot run unmarked', () => {
  // Proves a read cannot re-create a forgotten client's entry (or end its expired mode), which
  // would let an older write of that client, still in flight, run a second time.
  const { replica, call } = servingPrimary();
  const read = call({ ...newRequest('c', 7, 'read', null, false), answeredBelow: 6 });
  assert.deepEqual(read.kind === 'executed' && read.outcome, { ok: true, value: 0 }, 'the read runs');
  assert.equal(replica.clients, 0, 'and records nothing');
  const write = call(newRequest('c', 6, 'add', null, false));
  assert.ok(write.kind === 'executed' && !write.outcome.ok && write.outcome.code === 'client-expired', 'the older write is refused, not run');
  assert.equal(replica.state!.n, 0);
  // The refusal put the entry in the expired mode; a read does not end it either.
  const again = call({ ...newRequest('c', 8, 'read', null, false), answeredBelow: 6 });
  assert.deepEqual(again.kind === 'executed' && again.outcome, { ok: true, value: 0 });
  const other = call(newRequest('c', 5, 'add', null, false));
  assert.ok(other.kind === 'executed' && !other.outcome.ok && other.outcome.code === 'client-expired', 'still refused');
  assert.equal(replica.state!.n, 0, 'no write ran');
});

test('an app error with one of the client table\'s codes becomes a handler-error', () => {
  // Proves an app cannot make a client believe a request that ran did not (the client would send it again).
  const { call } = servingPrimary();
  for (const [seq, code] of [[1, 'client-expired'], [2, 'client-table-full']] as const) {
    const a = call(newRequest('c', seq, 'pretend', code));
    assert.ok(a.kind === 'executed' && !a.outcome.ok && a.outcome.code === 'handler-error' && a.outcome.message.includes(code), JSON.stringify(a));
  }
  const own = call(newRequest('c', 3, 'pretend', 'not-found'));
  assert.ok(own.kind === 'executed' && !own.outcome.ok && own.outcome.code === 'not-found', 'the app\'s own codes pass');
});
