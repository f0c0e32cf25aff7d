// The shared stream conformance suite, run against GrpcTransport (serveStream, and openStream as a
// node) and GrpcClientTransport (openStream) over loopback.
import { silentLogger } from '../../src/env/logger.js';
import type { ClientTransport } from '../../src/env/transport.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import type { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { streamConformance } from '../conformance/stream.suite.js';
import { cluster, startNode, until } from './grpc-support.js';

/** Clients made so far, over every test: every other one is a node acting as a client. */
let clientsMade = 0;

streamConformance('gRPC over loopback', async (options) => {
  const nodes: GrpcTransport[] = [];
  const clients: ClientTransport[] = [];
  return {
    async node() {
      const node = await startNode({ options });
      nodes.push(node);
      return node;
    },
    async client() {
      // Every other test's client is a node acting as one (GrpcTransport.openStream), the others client-only transports.
      const client = clientsMade++ % 2 === 0 ? new GrpcClientTransport({ cluster, logger: silentLogger, options }) : await startNode({ options });
      clients.push(client);
      return client;
    },
    async down(node) {
      await node.close();
    },
    isolate(node) {
      nodes.find((n) => n === node)!.isolate();
    },
    until,
    async dispose() {
      await Promise.all([...clients.map((c) => c.close()), ...nodes.map((n) => n.close())]);
    },
  };
});
