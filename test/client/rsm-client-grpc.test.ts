// RsmClient over real gRPC (GrpcClientTransport) against a node's transport serving the client
// service: how a transport failure reaches the caller as a typed error.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/env/logger.js';
import { WrongClusterError } from '../../src/client/errors.js';
import { RsmClient } from '../../src/client/rsm-client.js';
import { clientServiceCodec } from '../../src/rsm/codec.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { realClock } from '../../src/runtime/real-clock.js';
import { freePortPairs } from '../../tools/harness/ports.js';

const closing: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const close of closing.reverse()) await close();
});

/** A node of cluster `cluster` whose client service executes every request at once, answering its args. */
async function echoNode(cluster: string): Promise<GrpcTransport> {
  const [port] = await freePortPairs(1);
  const node = await GrpcTransport.listen({ self: `127.0.0.1:${port}`, cluster, logger: silentLogger });
  closing.push(() => node.close());
  const channel = node.serve(clientServiceCodec, (from, call) => {
    if (call.kind !== 'invoke') return;
    const r = call.request;
    channel.answer(from, { kind: 'executed', clientId: r.clientId, seq: r.seq, outcome: { ok: true, value: r.args } });
  });
  return node;
}

function clientOf(cluster: string, members: string[]): RsmClient {
  const transport = new GrpcClientTransport({ cluster, logger: silentLogger });
  const client = new RsmClient({ members, transport, clock: realClock });
  closing.push(() => transport.close(), () => client.close());
  return client;
}

test('a client of another cluster fails at once with WrongClusterError naming both clusters, not at its deadline', async () => {
  // The server names its cluster in the refusal's metadata; the client ends the call without retrying elsewhere.
  const node = await echoNode('beta');
  const started = performance.now();
  const error = await clientOf('alpha', [node.self]).invoke('echo', 1, { deadlineMs: 10_000 }).then(
    () => assert.fail('a call to another cluster succeeded'),
    (err: unknown) => err,
  );
  assert.ok(error instanceof WrongClusterError, String(error));
  assert.deepEqual([error.server, error.expected, error.actual], [node.self, 'alpha', 'beta']);
  assert.ok(performance.now() - started < 5000, `took ${Math.round(performance.now() - started)} ms: it waited for the deadline`);
});

test('a client of the right cluster is answered by the same node', async () => {
  const node = await echoNode('beta');
  assert.deepEqual(await clientOf('beta', [node.self]).invoke('echo', { x: 1 }), { x: 1 });
});
