// The test control service's Partition (design §7) with `services`: it cuts only the named peer
// channels, and refuses bad input INVALID_ARGUMENT naming the field without cutting anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { configCodec } from '../../src/config/codec.js';
import { Breakpoints } from '../../src/node/breakpoints.js';
import { ControlServer, controlService } from '../../src/node/control-server.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import type { PaxosLayer } from '../../src/paxos/paxos-layer.js';
import { RpcError, UnaryClient } from '../../src/runtime/grpc-client.js';
import type { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { capturingLogger, closedAfterBlock, cluster, clusterId, freePort } from '../runtime/grpc-support.js';

/** Deadline of one control call: a local in-process server answers in milliseconds. */
const controlCallDeadlineMs = 2000;

/** Binding the control service on a port that was free a moment ago may lose a race: a few tries. */
const bindAttempts = 3;

/** Starts a control service for `transport`'s node; Partition, Heal and Status touch no Paxos layer, so none is given. */
async function controlOf(transport: GrpcTransport, logger = capturingLogger()): Promise<{ client: UnaryClient; server: ControlServer }> {
  for (let attempt = 1; ; attempt++) {
    const address = `127.0.0.1:${await freePort()}`;
    try {
      const server = await ControlServer.listen(address, {
        self: transport.self, cluster, clusterId: () => clusterId, incarnation: 'test', transport,
        breakpoints: new Breakpoints(), paxos: undefined as unknown as PaxosLayer, config: null,
        inNode: (fn) => fn(), logger,
      });
      return { client: new UnaryClient(controlService, address), server };
    } catch (err) {
      if (attempt >= bindAttempts) throw err;
    }
  }
}

describe('control service: Partition with services', { timeout: 30_000 }, () => {
  const { node, cleanup } = closedAfterBlock();
  const call = (client: UnaryClient, method: string, request: Record<string, unknown>): Promise<{ detail?: string }> =>
    client.call(method, { ...request, cluster, cluster_id: clusterId }, controlCallDeadlineMs);

  test('cuts only the named channels with the named peers, adds to what is cut, and Heal lifts it all', async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    a.open(paxosCodec, () => {});
    a.open(configCodec, () => {});
    const { client, server } = await controlOf(a);
    cleanup.push(() => server.close(), () => client.close());

    const reply = await call(client, 'Partition', { peers: [b.self, c.self], services: [paxosCodec.service] });
    assert.equal(reply.detail, `cut off from ${b.self},${c.self} on ${paxosCodec.service}`);
    assert.ok(a.blocked(b.self, paxosCodec.service) && a.blocked(c.self, paxosCodec.service));
    assert.ok(!a.blocked(b.self, configCodec.service) && !a.blocked(b.self), 'the config channel still flows');

    await call(client, 'Partition', { peers: [b.self], services: [configCodec.service] });
    assert.ok(a.blocked(b.self, configCodec.service) && !a.blocked(c.self, configCodec.service), 'a second call adds to the cut');

    await call(client, 'Heal', {});
    assert.ok(!a.blocked(b.self, paxosCodec.service) && !a.blocked(b.self, configCodec.service) && !a.blocked(c.self, paxosCodec.service));
  });

  test('a service that is no channel of the node, or services with isolate, is INVALID_ARGUMENT naming the field; nothing is cut', async () => {
    const [a, b] = [await node(), await node()];
    a.open(paxosCodec, () => {});
    const logger = capturingLogger();
    const { client, server } = await controlOf(a, logger);
    cleanup.push(() => server.close(), () => client.close());
    const refused = async (request: Record<string, unknown>, field: RegExp): Promise<void> => {
      await assert.rejects(call(client, 'Partition', request), (err: unknown) => {
        assert.ok(err instanceof RpcError, String(err));
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
        assert.match(err.message, field);
        return true;
      });
    };

    // The RSM's channel is not open on this node (it runs Paxos only): a typo or a wrong node must not cut nothing silently.
    await refused({ peers: [b.self], services: ['synod.rsm.Replica'] }, /services\[0\]: "synod\.rsm\.Replica" is no peer channel of this node; its channels are synod\.paxos\.Paxos/);
    await refused({ peers: [b.self], services: [paxosCodec.service, 'x'.repeat(10_000)] }, /services\[1\]: "x{100}" is no peer channel/);
    await refused({ isolate: true, services: [paxosCodec.service] }, /services: isolate cuts every channel/);
    await refused({ services: [paxosCodec.service] }, /peers: name peers to cut off/);
    assert.ok(!a.blocked(b.self, paxosCodec.service) && !a.isolated, 'a refused request cut something');
    assert.ok(logger.lines.some((l) => l.level === 'warn' && /services\[0\]/.test(String(l.fields['err']))), 'the refusal was not logged');
    const status = await call(client, 'Status', {}) as { status?: string };
    assert.equal(status.status, 'no config layer', 'the service keeps answering');
  });
});
