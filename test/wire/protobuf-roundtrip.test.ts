// Every Paxos, config and RSM message kind (replica and client service), with edge values, survives the real protobuf encoding
// (what gRPC sends) and comes back equal: the simulator hands codec objects over directly, so
// this is where proto3's ways (absent zero values, empty repeated fields, the oneof marker,
// int64 to number) are checked for every kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MethodDefinition } from '@grpc/proto-loader';
import { serviceDefinition } from '../../src/runtime/proto.js';
import type { WireCodec } from '../../src/env/transport.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import { configCodec } from '../../src/config/codec.js';
import type { PaxosMessage } from '../../src/paxos/messages.js';
import type { ConfigMessage } from '../../src/config/messages.js';
import { Prng } from '../../tools/sim/prng.js';
import { limits } from '../../src/options.js';
import { InvalidMessageError } from '../../src/env/errors.js';
import { clientServiceCodec, replicaCodec } from '../../src/rsm/codec.js';
import { type ClientAnswer, type ClientCall, type ReplicaMessage, newRequest, syncActions } from '../../src/rsm/messages.js';
import type { Json } from '../../src/rsm/app.js';
import type { Outcome } from '../../src/rsm/client-table.js';

type Fields = Record<string, unknown>;

/** Encodes like the gRPC transport does, serializes to protobuf bytes, and decodes back. */
function roundTrip<M>(codec: WireCodec<M>, msg: M): M {
  const method = serviceDefinition(codec.service)['Deliver'] as MethodDefinition<Fields, Fields>;
  const envelope = { ...codec.encode(msg), from: 'a:1', to: 'b:2', cluster: 'c' };
  const bytes = method.requestSerialize(envelope);
  return codec.decode(method.requestDeserialize(bytes));
}

const seed = Number(process.env['SEED'] ?? 20261121);

function generators(rng: Prng) {
  const id = (): string => `10.0.${rng.int(256)}.${rng.int(256)}:${rng.between(1, 65535)}`;
  const members = (): string[] => Array.from(new Set(Array.from({ length: rng.between(1, 7) }, id)));
  const instance = (): number => rng.pick([1, 2, rng.between(3, 1000), limits.maxInstance]);
  const round = (): number => rng.pick([1, rng.between(2, 100), limits.maxRound]);
  const n = () => ({ round: round(), node: id() });
  const versionPart = (): string => String(rng.pick([0, 1, rng.between(2, 1000), 999_999_999]));
  const app = () => ({
    name: rng.pick(['a', 'kv', 'lock', 'my-app.v2_x', `a${'z'.repeat(63)}`.slice(0, 64)]),
    version: `${versionPart()}.${versionPart()}.${versionPart()}`,
  });
  const paxos = (): PaxosMessage[] => [
    { kind: 'prepare', instance: instance(), n: n() },
    { kind: 'promise', instance: instance(), n: n(), accepted: null },
    { kind: 'promise', instance: instance(), n: n(), accepted: { n: n(), value: members() } },
    { kind: 'accept', instance: instance(), n: n(), value: members() },
    { kind: 'accepted', instance: instance(), n: n() },
    { kind: 'reject', instance: instance(), n: n(), promised: n() },
    { kind: 'decided', instance: instance(), value: members() },
    { kind: 'known', instance: instance() },
    { kind: 'fetch', from: instance() },
    { kind: 'decisions', first: rng.between(1, 1000), values: Array.from({ length: rng.between(1, 64) }, members) },
    { kind: 'decisions', first: rng.between(1, 1000), values: Array.from({ length: rng.between(1, 64) }, members), compacted: true },
  ];
  const config = (): ConfigMessage[] => [
    { kind: 'heartbeat', vid: instance(), incarnation: `inc-${rng.int(1e9)}`, stale: false },
    { kind: 'heartbeat', vid: instance(), incarnation: `inc-${rng.int(1e9)}`, stale: true },
    { kind: 'join', incarnation: `inc-${rng.int(1e9)}`, vid: instance(), app: null },
    { kind: 'join', incarnation: `inc-${rng.int(1e9)}`, vid: instance(), app: app() },
    { kind: 'join-reply', vid: instance(), outcome: 'queued', to: null, clusterId: `cid-${rng.int(1e9)}` },
    { kind: 'join-reply', vid: instance(), outcome: 'redirect', to: id(), clusterId: '' },
    { kind: 'join-reply', vid: instance(), outcome: 'retry', to: null, clusterId: '' },
    { kind: 'join-reply', vid: instance(), outcome: 'member', to: null, clusterId: `cid-${rng.int(1e9)}` },
    { kind: 'join-refused', vid: instance(), memberApp: app(), joinerApp: null },
    { kind: 'join-refused', vid: instance(), memberApp: null, joinerApp: app() },
    { kind: 'join-refused', vid: instance(), memberApp: app(), joinerApp: app() },
  ];
  return { paxos, config };
}

test(`every Paxos message kind survives protobuf encoding unchanged (seed ${seed})`, () => {
  const gen = generators(new Prng(seed));
  for (let i = 0; i < 200; i++) for (const m of gen.paxos()) assert.deepEqual(roundTrip(paxosCodec, m), m);
});

test(`every config message kind survives protobuf encoding unchanged (seed ${seed})`, () => {
  const gen = generators(new Prng(seed));
  for (let i = 0; i < 200; i++) for (const m of gen.config()) assert.deepEqual(roundTrip(configCodec, m), m);
});

// ---- RSM: the replica service and the client service -----------------------------------------

const replicaDeliver = (): MethodDefinition<Fields, Fields> =>
  serviceDefinition(replicaCodec.service)['Deliver'] as MethodDefinition<Fields, Fields>;
const clientCall = (): MethodDefinition<Fields, Fields> =>
  serviceDefinition(clientServiceCodec.service)['Call'] as MethodDefinition<Fields, Fields>;

/** A client call as the client transport sends it (cluster name set), through protobuf bytes, decoded by the server. */
function callRoundTrip(call: ClientCall): ClientCall {
  const method = clientCall();
  const bytes = method.requestSerialize({ ...clientServiceCodec.encodeRequest(call), cluster: 'c' });
  return clientServiceCodec.decodeRequest(method.requestDeserialize(bytes));
}

/** A server's answer through protobuf bytes, decoded by the client. */
function answerRoundTrip(answer: ClientAnswer): ClientAnswer {
  const method = clientCall();
  const bytes = method.responseSerialize(clientServiceCodec.encodeAnswer(answer));
  return clientServiceCodec.decodeAnswer(method.responseDeserialize(bytes));
}

/** Raw wire fields (as a buggy or hostile peer could send them) through protobuf, then the codec. */
function decodeRawReplica(wire: Fields): ReplicaMessage {
  const method = replicaDeliver();
  return replicaCodec.decode(method.requestDeserialize(method.requestSerialize({ ...wire, from: 'a:1', to: 'b:2', cluster: 'c' })));
}
function decodeRawCall(wire: Fields): ClientCall {
  const method = clientCall();
  return clientServiceCodec.decodeRequest(method.requestDeserialize(method.requestSerialize({ ...wire, cluster: 'c' })));
}
function decodeRawAnswer(wire: Fields): ClientAnswer {
  const method = clientCall();
  return clientServiceCodec.decodeAnswer(method.responseDeserialize(method.responseSerialize(wire)));
}

/** Every JSON type, nested and at the edges of what JSON text carries exactly. */
const everyJson: Json[] = [
  null,
  true,
  false,
  0,
  1,
  -1,
  1.5,
  -2.25e-7,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  1e300,
  '',
  'text',
  'unicode: é ✓ 😀 \u0000 "quotes" \\ \n',
  [],
  {},
  [null, true, 0, 'a', [], {}],
  { a: null, b: false, c: 3, d: 'x', e: [1, [2, [3]]], f: { g: { h: {} } }, '': 'empty key', 'ü 😀': 1 },
];

function rsmGenerators(rng: Prng) {
  const id = (): string => `10.0.${rng.int(256)}.${rng.int(256)}:${rng.between(1, 65535)}`;
  const vid = (): number => rng.pick([1, 2, rng.between(3, 1000), limits.maxInstance]);
  const seq = (): number => rng.pick([1, 2, rng.between(3, 1e6), Number.MAX_SAFE_INTEGER]);
  const vs = () => rng.pick([{ vid: 0, seqno: 0 }, { vid: vid(), seqno: 0 }, { vid: vid(), seqno: seq() }, { vid: limits.maxInstance, seqno: Number.MAX_SAFE_INTEGER }]);
  const clientId = (): string => rng.pick(['c', `client-${rng.int(1e9)}`, 'x'.repeat(limits.maxClientIdLength), 'ü😀-client']);
  const proc = (): string => rng.pick(['p', 'acquire', 'lock.release_2', 'x'.repeat(limits.maxProcNameLength)]);
  const request = () => newRequest(clientId(), seq(), proc(), rng.pick(everyJson), rng.chance(0.5));
  // A stamped request's viewstamp: seqnos start at 1 in every view.
  const stamped = () => rng.pick([{ vid: 1, seqno: 1 }, { vid: vid(), seqno: seq() }, { vid: limits.maxInstance, seqno: Number.MAX_SAFE_INTEGER }]);
  const data = (): Uint8Array => {
    const n = rng.pick([0, 1, rng.between(2, 5000)]);
    return Uint8Array.from({ length: n }, () => rng.int(256));
  };
  const outcome = (): Outcome => rng.chance(0.5)
    ? { ok: true, value: rng.pick(everyJson) }
    : { ok: false, code: rng.pick(['E', 'NO_SUCH_LOCK', 'ü😀']), message: rng.pick(['', 'lock x is held', 'é\n😀']) };
  // A batch of 1 to 20 requests, its seqnos up to the largest exact one.
  const batch = (): ReplicaMessage => {
    const requests = Array.from({ length: rng.pick([1, rng.between(2, 20)]) }, request);
    const firstSeqno = rng.pick([1, rng.between(2, 1e6), Number.MAX_SAFE_INTEGER - requests.length + 1]);
    return { kind: 'invoke', vid: vid(), firstSeqno, requests };
  };
  const replica = (): ReplicaMessage[] => [
    batch(),
    { kind: 'invoke-ack', vs: stamped() },
    { kind: 'invoke-reject', vs: stamped(), vid: rng.pick([0, vid()]) },
    { kind: 'sync-status', vid: vid(), last: null, complete: false, syncedVid: null, leaseWaitMs: 0 },
    { kind: 'sync-status', vid: vid(), last: vs(), complete: true, syncedVid: vid(), leaseWaitMs: rng.between(1, 3_600_000) },
    { kind: 'sync-status', vid: vid(), last: { vid: 0, seqno: 0 }, complete: rng.chance(0.5), syncedVid: rng.chance(0.5) ? null : vid(), leaseWaitMs: rng.pick([0, 510]) },
    ...syncActions.map((action): ReplicaMessage => ({ kind: 'sync-reply', vid: vid(), action, target: rng.chance(0.5) ? null : vs() })),
    { kind: 'sync-pull', vid: vid(), target: vs(), offset: rng.pick([0, rng.between(1, 1e9)]) },
    { kind: 'sync-chunk', vid: vid(), target: vs(), offset: 0, data: new Uint8Array(0), last: true },
    { kind: 'sync-chunk', vid: vid(), target: vs(), offset: rng.between(0, 1e9), data: data(), last: rng.chance(0.5) },
    { kind: 'sync-unavailable', vid: vid(), target: vs() },
    { kind: 'lease-ask', vid: vid(), round: rng.pick([1, rng.between(2, 1e12)]), leaseMs: rng.pick([1, 500, 600_000]), maxDriftPpm: rng.pick([0, 10_000, 99_999]) },
    { kind: 'lease-grant', vid: vid(), round: rng.pick([1, rng.between(2, 1e12)]) },
  ];
  const calls = (): ClientCall[] => [{ kind: 'invoke', request: request() }, { kind: 'members' }];
  const answers = (): ClientAnswer[] => [
    { kind: 'executed', clientId: clientId(), seq: seq(), outcome: { ok: true, value: rng.pick(everyJson) } },
    { kind: 'executed', clientId: clientId(), seq: seq(), outcome: { ok: false, code: 'E', message: '' } },
    { kind: 'executed', clientId: clientId(), seq: seq(), outcome: outcome() },
    { kind: 'not-primary', clientId: clientId(), seq: seq(), primary: null, vid: 0 },
    { kind: 'not-primary', clientId: clientId(), seq: seq(), primary: id(), vid: vid() },
    { kind: 'busy', clientId: clientId(), seq: seq(), retryAfterMs: 0, reason: '' },
    { kind: 'busy', clientId: clientId(), seq: seq(), retryAfterMs: rng.pick([1, 50, 3_600_000]), reason: 'view change in progress' },
    { kind: 'invalid', clientId: clientId(), seq: seq(), field: '', reason: '' },
    { kind: 'invalid', clientId: clientId(), seq: seq(), field: 'proc', reason: 'unknown procedure "x"' },
    { kind: 'stale', clientId: clientId(), seq: seq() },
    { kind: 'members', vid: 0, members: [], primary: null },
    { kind: 'members', vid: vid(), members: Array.from(new Set(Array.from({ length: rng.between(1, 7) }, id))), primary: id() },
  ];
  return { replica, calls, answers };
}

test(`every replica message kind survives protobuf encoding unchanged (seed ${seed})`, () => {
  // Includes viewstamp (0,0), a null last, every sync action, and an empty sync chunk.
  const gen = rsmGenerators(new Prng(seed));
  const kinds = new Set<string>();
  for (let i = 0; i < 200; i++) {
    for (const m of gen.replica()) {
      kinds.add(m.kind);
      assert.deepEqual(roundTrip(replicaCodec, m), m);
    }
  }
  assert.equal(kinds.size, 10, 'every ReplicaMessage kind was tried');
});

test('a replica message with the args of every JSON type survives protobuf encoding unchanged', () => {
  // The request's args travel as JSON text; every JSON type comes back equal.
  for (const args of everyJson) {
    const m: ReplicaMessage = { kind: 'invoke', vid: 1, firstSeqno: 1, requests: [newRequest('c', 1, 'p', args)] };
    assert.deepEqual(roundTrip(replicaCodec, m), m);
  }
});

test(`every client call and answer kind survives protobuf encoding unchanged (seed ${seed})`, () => {
  // Includes outcomes ok and not ok, a not-primary with no primary, and a members answer with no members and no primary.
  const gen = rsmGenerators(new Prng(seed));
  const callKinds = new Set<string>();
  const answerKinds = new Set<string>();
  for (let i = 0; i < 200; i++) {
    for (const c of gen.calls()) {
      callKinds.add(c.kind);
      assert.deepEqual(callRoundTrip(c), c);
    }
    for (const a of gen.answers()) {
      answerKinds.add(a.kind);
      assert.deepEqual(answerRoundTrip(a), a);
    }
  }
  assert.equal(callKinds.size, 2, 'every ClientCall kind was tried');
  assert.equal(answerKinds.size, 6, 'every ClientAnswer kind was tried');
  for (const args of everyJson) {
    const c: ClientCall = { kind: 'invoke', request: newRequest('c', 1, 'p', args) };
    assert.deepEqual(callRoundTrip(c), c);
    const a: ClientAnswer = { kind: 'executed', clientId: 'c', seq: 1, outcome: { ok: true, value: args } };
    assert.deepEqual(answerRoundTrip(a), a);
  }
});

test('args of exactly limits.maxRequestBytes of JSON text are accepted', () => {
  // The limit itself is allowed; only beyond it is refused.
  const args = 'x'.repeat(limits.maxRequestBytes - 2); // JSON text: the string plus two quotes
  const call: ClientCall = { kind: 'invoke', request: newRequest('c', 1, 'p', args) };
  assert.deepEqual(callRoundTrip(call), call);
});

/** Asserts `run` throws an InvalidMessageError naming `field`. */
function refuses(run: () => unknown, field: string): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof InvalidMessageError, `expected InvalidMessageError, got ${String(err)}`);
    assert.equal(err.field, field);
    return true;
  });
}

const wireRequest = (over: Fields = {}): Fields => ({ client_id: 'c', seq: 1, proc: 'p', args: 'null', ...over });

test('decoding refuses invalid JSON args, naming the field', () => {
  // Args that are not JSON text never reach a replica core or the app.
  for (const args of ['{bad', 'undefined', "'single'", '[1,]', 'NaN']) {
    refuses(() => decodeRawCall({ invoke: { request: wireRequest({ args }) } }), 'invoke.request.args');
    refuses(() => decodeRawReplica({ invoke_batch: { vid: 1, first_seqno: 1, requests: [wireRequest({ args })] } }), 'invoke_batch.requests[0].args');
  }
  // Absent args (the empty string proto3 does not send) are not JSON either.
  refuses(() => decodeRawCall({ invoke: { request: wireRequest({ args: '' }) } }), 'invoke.request.args');
});

test('decoding refuses args longer than limits.maxRequestBytes characters, naming the field', () => {
  // One character over the limit is refused.
  const args = JSON.stringify('x'.repeat(limits.maxRequestBytes - 1)); // maxRequestBytes + 1 characters
  refuses(() => decodeRawCall({ invoke: { request: wireRequest({ args }) } }), 'invoke.request.args');
  refuses(() => decodeRawReplica({ invoke_batch: { vid: 1, first_seqno: 1, requests: [wireRequest({ args })] } }), 'invoke_batch.requests[0].args');
});

test('decoding refuses args of more than limits.maxRequestBytes UTF-8 bytes even when they have fewer characters', () => {
  // The limit is in bytes (maxRequestBytes); characters outside ASCII take 2 to 4 bytes each, so
  // counting UTF-16 code units lets a request of up to 3 × the limit through.
  const args = JSON.stringify('€'.repeat(Math.ceil(limits.maxRequestBytes / 3) + 10)); // ~1/3 MiB characters, > 1 MiB bytes
  assert.ok(Buffer.byteLength(args, 'utf8') > limits.maxRequestBytes);
  assert.ok(args.length <= limits.maxRequestBytes);
  refuses(() => decodeRawCall({ invoke: { request: wireRequest({ args }) } }), 'invoke.request.args');
});

test('decoding refuses an empty client id and seq 0, naming the field', () => {
  // The at-most-once key must be complete.
  refuses(() => decodeRawCall({ invoke: { request: wireRequest({ client_id: '' }) } }), 'invoke.request.client_id');
  refuses(() => decodeRawCall({ invoke: { request: wireRequest({ seq: 0 }) } }), 'invoke.request.seq');
  refuses(() => decodeRawReplica({ invoke_batch: { vid: 1, first_seqno: 1, requests: [wireRequest({ client_id: '' })] } }), 'invoke_batch.requests[0].client_id');
  refuses(() => decodeRawReplica({ invoke_batch: { vid: 1, first_seqno: 1, requests: [wireRequest({ seq: 0 })] } }), 'invoke_batch.requests[0].seq');
  refuses(() => decodeRawCall({ invoke: { request: wireRequest({ client_id: 'x'.repeat(limits.maxClientIdLength + 1) }) } }), 'invoke.request.client_id');
  // Answers carry the same key, checked the same way.
  refuses(() => decodeRawAnswer({ executed: { client_id: '', seq: 1, outcome: { ok: true, value: 'null' } } }), 'executed.client_id');
  refuses(() => decodeRawAnswer({ busy: { client_id: 'c', seq: 0, retry_after_ms: 5, reason: '' } }), 'busy.seq');
});

test('decoding refuses an unknown sync action, naming the field', () => {
  // Only up-to-date, pull, wait and no-state are actions.
  for (const action of ['bogus', 'PULL', 'up_to_date']) {
    refuses(() => decodeRawReplica({ sync_reply: { vid: 1, action, target: { vid: 1, seqno: 0 } } }), 'sync_reply.action');
  }
  refuses(() => decodeRawReplica({ sync_reply: { vid: 1 } }), 'sync_reply.action');
});

test('decoding refuses a proc name longer than limits.maxProcNameLength, and an empty one, naming the field', () => {
  // A procedure name no app can register is refused at the door.
  const long = 'p'.repeat(limits.maxProcNameLength + 1);
  refuses(() => decodeRawCall({ invoke: { request: wireRequest({ proc: long }) } }), 'invoke.request.proc');
  refuses(() => decodeRawReplica({ invoke_batch: { vid: 1, first_seqno: 1, requests: [wireRequest({ proc: long })] } }), 'invoke_batch.requests[0].proc');
  refuses(() => decodeRawCall({ invoke: { request: wireRequest({ proc: '' }) } }), 'invoke.request.proc');
});

test('decoding refuses an envelope with no known body and view 0 where a view is required', () => {
  // The oneof must name a message; vids of live views start at 1.
  refuses(() => decodeRawCall({}), 'body');
  refuses(() => decodeRawAnswer({}), 'body');
  refuses(() => decodeRawReplica({}), 'body');
  refuses(() => decodeRawReplica({ sync_pull: { vid: 0, target: { vid: 1, seqno: 0 }, offset: 0 } }), 'sync_pull.vid');
});
