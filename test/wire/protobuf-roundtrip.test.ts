// Every Paxos and config message kind, with edge values, survives the real protobuf encoding
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
import { Prng } from '../../src/sim/prng.js';
import { limits } from '../../src/options.js';

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
  ];
  const config = (): ConfigMessage[] => [
    { kind: 'heartbeat', vid: instance(), incarnation: `inc-${rng.int(1e9)}`, stale: false },
    { kind: 'heartbeat', vid: instance(), incarnation: `inc-${rng.int(1e9)}`, stale: true },
    { kind: 'join', incarnation: `inc-${rng.int(1e9)}`, vid: instance() },
    { kind: 'join-reply', vid: instance(), outcome: 'queued', to: null },
    { kind: 'join-reply', vid: instance(), outcome: 'redirect', to: id() },
    { kind: 'join-reply', vid: instance(), outcome: 'retry', to: null },
    { kind: 'join-reply', vid: instance(), outcome: 'member', to: null },
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
