// The shared transport conformance suite, run against GrpcTransport (peer messages over streams
// and as unary calls) and GrpcClientTransport over loopback.
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/env/logger.js';
import type { ClientTransport, Transport } from '../../src/env/transport.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import type { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { type TransportHarness, transportConformance } from '../conformance/transport.suite.js';
import type { PeerMessages } from '../../src/options.js';
import { cluster, peerMessageModes, startNode, until } from './grpc-support.js';

function grpcHarness(peerMessages: PeerMessages): TransportHarness {
  const nodes = new Map<Transport, GrpcTransport>();
  const clients: ClientTransport[] = [];
  const grpcNode = (t: Transport): GrpcTransport => {
    const node = nodes.get(t);
    assert.ok(node !== undefined, 'not a node of this harness');
    return node;
  };
  return {
    async node() {
      const node = await startNode({ options: { peerMessages } });
      nodes.set(node, node);
      return node;
    },
    async client() {
      const client = new GrpcClientTransport({ cluster, logger: silentLogger });
      clients.push(client);
      return client;
    },
    until,
    partition(a, b) {
      grpcNode(a).blockPeers([b.self]);
      grpcNode(b).blockPeers([a.self]);
    },
    heal() {
      for (const node of nodes.values()) node.heal();
    },
    async dispose() {
      await Promise.all([...clients.map((c) => c.close()), ...[...nodes.values()].map((n) => n.close())]);
    },
  };
}

for (const peerMessages of peerMessageModes) {
  transportConformance(`gRPC over loopback (peer messages: ${peerMessages})`, async () => grpcHarness(peerMessages));
}
