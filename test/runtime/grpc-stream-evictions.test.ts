// A server stream whose client does not read it is ended overloaded by the transport
// (maxQueuedStreamMessages) and counted as an eviction, by service (synod_stream_evictions_total);
// a stream that is read to its end is not.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Metrics } from '../../src/env/metrics.js';
import type { StreamEnd } from '../../src/env/streams.js';
import type { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { echoStreamCodec } from '../conformance/echo-codec.js';
import { startNode, until } from './grpc-support.js';

const transports: GrpcTransport[] = [];
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
});

test('a stream its client does not read is ended overloaded and counted as an eviction of its service', async () => {
  const evictions: string[] = [];
  const metrics: Metrics = {
    count: (name, labels) => void evictions.push(`${name} ${labels?.['service'] ?? ''}`),
    observe: () => {},
  };
  const server = await startNode({ options: { maxQueuedStreamMessages: 5 }, metrics });
  const client = await startNode();
  transports.push(server, client);
  let burst = 20;
  server.serveStream(echoStreamCodec, (request, stream) => {
    stream.accept();
    for (let i = 1; i <= burst; i++) if (!stream.send({ n: i, text: request.text })) break;
  });
  const open = (): Promise<StreamEnd> => new Promise((resolve) => {
    client.openStream(echoStreamCodec, server.self, { n: 1, text: 'x' }, { accepted: () => {}, message: () => {}, ended: resolve });
  });
  const end = await open();
  assert.equal(end.kind, 'overloaded');
  assert.ok(await until(() => evictions.length === 1, 5000));
  assert.deepEqual(evictions, ['synod_stream_evictions_total synod.test.EchoStream']);
  burst = 3; // within the bound: the stream stays open, nothing is evicted
  let heard = 0;
  client.openStream(echoStreamCodec, server.self, { n: 2, text: 'y' }, { accepted: () => {}, message: () => void heard++, ended: () => {} });
  assert.ok(await until(() => heard === 3, 5000));
  assert.equal(evictions.length, 1);
});
