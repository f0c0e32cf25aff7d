// A subscription larger than the node receives is a bad request, not load: grpc-js refuses it
// RESOURCE_EXHAUSTED, which a stream's client read as `overloaded` and would retry forever (the
// same request is refused every time). Found by the fuzzer (a 4 MiB feed filter). A stream
// message over the client's own limit is a configuration error (`internal`), and a refusal for
// load stays `overloaded`.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { StreamEnd } from '../../src/env/streams.js';
import { streamEndOf } from '../../src/runtime/grpc-status.js';
import type { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { echoStreamCodec } from '../conformance/echo-codec.js';
import { cluster, startNode } from './grpc-support.js';

const transports: GrpcTransport[] = [];
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
});

test('a subscription over the node\'s maxMessageBytes ends invalid-request at its client, naming the limit', async () => {
  const server = await startNode({ options: { maxMessageBytes: 64 * 1024 } });
  const client = await startNode({ options: { maxMessageBytes: 1024 * 1024 } });
  transports.push(server, client);
  let handed = 0;
  server.serveStream(echoStreamCodec, (_request, stream) => {
    handed++;
    stream.accept();
  });
  const end = await new Promise<StreamEnd>((resolve) => {
    client.openStream(echoStreamCodec, server.self, { n: 1, text: 'x'.repeat(100 * 1024) }, { accepted: () => {}, message: () => {}, ended: resolve });
  });
  assert.equal(end.kind, 'invalid-request', JSON.stringify(end));
  assert.match(end.detail, /larger than the node accepts \(its transport\.maxMessageBytes\)/);
  assert.equal(handed, 0, 'the server never handed it on');
});

test('gRPC\'s size refusals of a stream are read by whose limit it was; a refusal for load stays overloaded', () => {
  const exhausted = (details: string): { code: grpc.status; details: string } => ({ code: grpc.status.RESOURCE_EXHAUSTED, details });
  assert.equal(streamEndOf(exhausted('Received message larger than max (70000 vs 65536)'), cluster, 4 * 1024 * 1024).kind, 'invalid-request');
  assert.equal(streamEndOf(exhausted('Received message larger than max (70000 vs 65536)'), cluster).kind, 'invalid-request');
  assert.equal(streamEndOf(exhausted('Received message larger than max (70000 vs 65536)'), cluster, 65536).kind, 'internal');
  assert.equal(streamEndOf(exhausted('Attempted to send message with a size larger than 65536'), cluster, 65536).kind, 'invalid-request');
  assert.equal(streamEndOf(exhausted('4 streams queued'), cluster, 65536).kind, 'overloaded');
});
