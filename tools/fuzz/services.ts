/**
 * The services a node serves, as the fuzzer aims at them: each gRPC service of `proto/` with the
 * role it plays and the codec the node checks its input with. The codecs are the nodes' own
 * (src/): the fuzzer uses them to tell input a node must refuse from input it may take in, never
 * to decide what a node did. A service of the schema missing here is an error (`checkCoverage`),
 * so a new service cannot go unfuzzed.
 */
import { invariant } from '../../src/env/errors.js';
import type { WireCodec } from '../../src/env/transport.js';
import { configCodec } from '../../src/config/codec.js';
import { controlService } from '../../src/node/control-server.js';
import { nodeServiceCodec } from '../../src/node/status.js';
import { snapshotCodec } from '../../src/node/snapshot-service.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import { peerService } from '../../src/runtime/grpc-peer-frames.js';
import { callbacksCodec } from '../../src/rsm/callbacks-wire.js';
import { feedsCodec } from '../../src/rsm/feeds-wire.js';
import { clientServiceCodec, replicaCodec } from '../../src/rsm/codec.js';
import type { WireSchema } from './schema.js';

/**
 * - channel: one-way peer messages (`Deliver(Envelope)`), from another node;
 * - call: a request/response service of clients (`Call`);
 * - stream: a server stream of clients (`Subscribe`: callbacks and feeds, served only with an app that has them);
 * - control: the test control service, on its own port (real processes only);
 * - peer-stream: the bidirectional stream carrying every channel's envelopes between two nodes
 *   (proto/peer.proto). Listed so that coverage stays checked, but NOT driven by the fuzzer yet:
 *   no generator makes cases for it (its frames carry the channels' envelopes, which the channel
 *   cases already fuzz through `Deliver`); driving its frames is open work.
 */
export type ServiceRole = 'channel' | 'call' | 'stream' | 'control' | 'peer-stream';

export interface ServiceTarget {
  readonly service: string;
  readonly role: ServiceRole;
  /**
   * The node's own check of a request's fields (the codec's `decode` / `decodeRequest`); throws
   * for input the node must refuse. Null: the service has no codec (control checks per method).
   */
  readonly decode: ((fields: Record<string, unknown>) => unknown) | null;
  /** Channels: a message as the fields of its envelope's body (to record genuine messages for replay). */
  readonly encode?: (message: unknown) => Record<string, unknown>;
  /** Served by the simulator's nodes too (the control and node services are production only). */
  readonly simulated: boolean;
  /** Channels: whether the codec takes messages of nodes without a cluster id (`WireCodec.admitsNewcomers`). */
  readonly admitsNewcomers?: boolean;
}

export const serviceTargets: readonly ServiceTarget[] = [
  channel(paxosCodec),
  channel(configCodec),
  channel(replicaCodec),
  { service: clientServiceCodec.service, role: 'call', decode: (w) => clientServiceCodec.decodeRequest(w), simulated: true },
  { service: nodeServiceCodec.service, role: 'call', decode: (w) => nodeServiceCodec.decodeRequest(w), simulated: false },
  { service: callbacksCodec.service, role: 'stream', decode: (w) => callbacksCodec.decodeRequest(w), simulated: true },
  { service: feedsCodec.service, role: 'stream', decode: (w) => feedsCodec.decodeRequest(w), simulated: true },
  { service: snapshotCodec.service, role: 'stream', decode: (w) => snapshotCodec.decodeRequest(w), simulated: false },
  { service: controlService, role: 'control', decode: null, simulated: false },
  { service: peerService, role: 'peer-stream', decode: null, simulated: false },
];

function channel<M>(codec: WireCodec<M>): ServiceTarget {
  return {
    service: codec.service, role: 'channel', decode: (w) => codec.decode(w), encode: (m) => codec.encode(m as M), simulated: true,
    admitsNewcomers: codec.admitsNewcomers === true,
  };
}

export function serviceTarget(service: string): ServiceTarget {
  const t = serviceTargets.find((s) => s.service === service);
  invariant(t !== undefined, () => `no fuzz target for service ${service}`);
  return t;
}

/** Throws unless every service of the schema has a target here, and every target a service there. */
export function checkCoverage(schema: WireSchema): void {
  const inSchema = schema.services.map((s) => s.name).sort();
  const targeted = serviceTargets.map((t) => t.service).sort();
  const missing = inSchema.filter((s) => !targeted.includes(s));
  const unknown = targeted.filter((s) => !inSchema.includes(s));
  invariant(missing.length === 0, () => `services in proto/ the fuzzer does not aim at: ${missing.join(', ')} (add them to tools/fuzz/services.ts)`);
  invariant(unknown.length === 0, () => `fuzz targets with no service in proto/: ${unknown.join(', ')}`);
}
