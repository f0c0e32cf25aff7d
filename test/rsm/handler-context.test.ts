// Proves who a handler is told calls (`HandlerContext`): the calling client's id, and whether the
// request is the node's own, the same on every replica. The internal flag is set only by
// `RsmLayer.submitInternal` and travels only between replicas: no client can set it, and the
// client edge refuses the nodes' client-id namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { CallResult } from '../../src/client/client-core.js';
import { InvalidMessageError, InvariantViolation } from '../../src/env/errors.js';
import { type Json, defineApp, jsonState } from '../../src/rsm/app.js';
import { clientServiceCodec, replicaCodec } from '../../src/rsm/codec.js';
import { type ClientAnswer, type ReplicaMessage, type Request, internalClientIdPrefix, newRequest } from '../../src/rsm/messages.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { SimCluster } from '../../tools/sim/cluster.js';

type Fields = Record<string, unknown>;

/** A replica message through protobuf bytes, as a peer sends it. */
function replicaRoundTrip(m: ReplicaMessage): ReplicaMessage {
  const method = serviceDefinition(replicaCodec.service)['Deliver'] as MethodDefinition<Fields, Fields>;
  return replicaCodec.decode(method.requestDeserialize(method.requestSerialize({ ...replicaCodec.encode(m), from: 'a:1', to: 'b:2', cluster: 'c' })));
}

/** A client's invoke whose request fields are `request`, through protobuf bytes, as the client service decodes it. */
function clientDecode(request: Fields): Request {
  const method = serviceDefinition(clientServiceCodec.service)['Call'] as MethodDefinition<Fields, Fields>;
  const call = clientServiceCodec.decodeRequest(method.requestDeserialize(method.requestSerialize({ invoke: { request }, cluster: 'c' })));
  assert.ok(call.kind === 'invoke');
  return call.request;
}

const invalidAt = (field: string) => (e: unknown): boolean => e instanceof InvalidMessageError && e.field === field;

test('the internal flag of a node\'s own request survives protobuf between replicas; a peer cannot set it on a client\'s id', () => {
  const own: Request = { ...newRequest(`${internalClientIdPrefix}sessions@n1`, 7, 'expire', { owner: 'x' }), internal: true };
  const at = { vid: 3, firstSeqno: 1 };
  assert.deepEqual(replicaRoundTrip({ kind: 'invoke', ...at, requests: [own] }), { kind: 'invoke', ...at, requests: [own] });
  const plain = newRequest('c1', 1, 'acquire', { lock: 'a', owner: 'x' });
  assert.deepEqual(replicaRoundTrip({ kind: 'invoke', ...at, requests: [plain, own] }), { kind: 'invoke', ...at, requests: [plain, own] }, 'a client\'s request stays a client\'s');
  assert.throws(() => replicaRoundTrip({ kind: 'invoke', ...at, requests: [own, { ...plain, internal: true }] }), invalidAt('invoke_batch.requests[1].internal'));
  const wire = replicaCodec.encode({ kind: 'invoke', ...at, requests: [own] }) as { invoke_batch: { requests: Fields[] } };
  assert.throws(() => replicaCodec.decode({ invoke_batch: { ...wire.invoke_batch, requests: [{ ...wire.invoke_batch.requests[0]!, internal: 'yes' }] } }), invalidAt('invoke_batch.requests[0].internal'));
});

test('the client edge never reads the internal flag, and refuses client ids of the nodes\' namespace', () => {
  const request = { client_id: 'c1', seq: 1, proc: 'expire', args: '{"owner":"x"}' };
  assert.equal(clientDecode({ ...request, internal: true }).internal, undefined, 'a client cannot make its request internal');
  for (const id of [`${internalClientIdPrefix}sessions@n1`, internalClientIdPrefix, `${internalClientIdPrefix}anything`]) {
    assert.throws(() => clientDecode({ ...request, client_id: id }), invalidAt('invoke.request.client_id'), id);
  }
  assert.equal(clientDecode({ ...request, client_id: 'synod-like:c1' }).clientId, 'synod-like:c1', 'only the prefix itself is reserved');
});

/** Its state is every call's context as its handler saw it, in execution order. */
const whoApp = defineApp<string[]>({
  name: 'who',
  version: '1.0.0',
  initialState: () => [],
  handlers: {
    who: (state, _args, context) => {
      const seen = `${context.clientId}/${context.internal ? 'internal' : 'client'}`;
      state.push(seen);
      return seen;
    },
  },
  marshalState: (state) => jsonState.marshal(state),
  unmarshalState: (bytes) => jsonState.unmarshal(bytes) as string[],
});

test('on the simulator, every replica gives a handler the same context: the client\'s id for its call, internal for the node\'s own', () => {
  const ids = ['n1', 'n2', 'n3'];
  const cluster = new SimCluster<string[]>({ seed: 731, ids, app: whoApp });
  cluster.start();
  const rsm = (id: string) => cluster.node(id).process!.stack.rsm!;
  const primary = (): string | undefined => ids.find((id) => rsm(id).core.isPrimary && rsm(id).core.status === 'normal');
  assert.ok(cluster.runUntil(() => ids.every((id) => rsm(id)?.core.status === 'normal' && cluster.view(id)?.members.length === 3), 10_000), 'three replicas serve');
  const client = cluster.addClient('c1');
  let reply: CallResult | null = null;
  client.submit('who', null, { deadlineMs: 5000 }, (r) => (reply = r));
  assert.ok(cluster.runUntil(() => reply !== null, 5000));
  assert.deepEqual(reply, { ok: true, value: 'c1/client' });

  const p = primary()!;
  const node = cluster.node(p);
  const answers: ClientAnswer[] = [];
  node.world!.executor.submit(() => rsm(p).submitInternal(newRequest(`${internalClientIdPrefix}test@${p}`, 1, 'who', null), (a) => answers.push(a)));
  assert.ok(cluster.runUntil(() => answers.length > 0, 5000));
  assert.deepEqual(answers.map((a) => (a.kind === 'executed' ? a.outcome : a.kind)), [{ ok: true, value: `${internalClientIdPrefix}test@${p}/internal` }]);
  cluster.runFor(500);
  for (const id of ids) assert.deepEqual(rsm(id).core.state, ['c1/client', `${internalClientIdPrefix}test@${p}/internal`], `${id} ran both with the same context`);

  // A node's own request under a client's id is a bug of the node, stopped before it is submitted.
  let thrown: unknown = null;
  node.world!.executor.submit(() => {
    try {
      rsm(p).submitInternal(newRequest('c1', 2, 'who', null as Json), () => {});
    } catch (err) {
      thrown = err;
    }
  });
  cluster.runFor(10);
  assert.ok(thrown instanceof InvariantViolation, String(thrown));
  assert.deepEqual(cluster.sim.failures, []);
});
