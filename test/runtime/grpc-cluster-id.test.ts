// GrpcTransport and cluster ids: every envelope carries the sender's, a message of another id is
// refused (FAILED_PRECONDITION naming both, warn), a node that has not learned its id yet speaks
// and hears only on channels that admit newcomers (the join protocol) until it adopts one; calls
// and streams between nodes carry the id too, while clients need none; an isolated node's
// refusal says which cluster it is.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { NodeId } from '../../src/env/types.js';
import type { Fields } from '../../src/env/validate.js';
import { configCodec } from '../../src/config/codec.js';
import type { ConfigMessage } from '../../src/config/messages.js';
import { silentLogger } from '../../src/env/logger.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { RpcError, UnaryClient } from '../../src/runtime/grpc-client.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { type Ping, echoCallCodec, echoCodec, echoStreamCodec } from '../conformance/echo-codec.js';
import type { StreamEnd } from '../../src/env/streams.js';
import { callLog, expectFailure, serveEcho } from './grpc-call-support.js';
import { capturingLogger, cluster, clusterId, sleep, statusName, until, closedAfterBlock, peerMessageModes } from './grpc-support.js';

const beat: ConfigMessage = { kind: 'heartbeat', vid: 1, incarnation: 'i', stale: false };
const echoDeliver = serviceDefinition(echoCodec.service)['Deliver'] as MethodDefinition<Fields, object, Fields, object>;

/** Sends one hand-made envelope on the Echo channel; resolves to the status the server answered. */
function rawDeliver(target: NodeId, envelope: Fields): Promise<{ code: grpc.status; details: string }> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(echoDeliver.path, echoDeliver.requestSerialize, echoDeliver.responseDeserialize, envelope,
      { deadline: Date.now() + 5000 }, (err) => {
        client.close();
        resolve(err === null ? { code: grpc.status.OK, details: '' } : { code: err.code, details: err.details });
      });
  });
}

for (const peerMessages of peerMessageModes) describe(`GrpcTransport: cluster ids (peer messages: ${peerMessages})`, () => {
  const { node, cleanup } = closedAfterBlock({ peerMessages });

  test('a message of another cluster id is refused with FAILED_PRECONDITION naming both ids, logged at warn, never delivered', async () => {
    const logB = capturingLogger();
    const a = await node({ clusterId: 'old-id' });
    const b = await node({ clusterId: 'new-id', logger: logB });
    const atB: Ping[] = [];
    const fromA = a.open(echoCodec, () => {});
    b.open(echoCodec, (_f, m) => atB.push(m));
    fromA.send(b.self, { n: 1, text: 'stale' });
    assert.ok(await until(() => logB.lines.some((l) => l.level === 'warn' && l.msg.includes('another cluster id')), 5000));
    const line = logB.lines.find((l) => l.msg.includes('another cluster id'))!;
    assert.deepEqual([line.fields['from'], line.fields['senderClusterId'], line.fields['clusterId']], [a.self, '"old-id"', '"new-id"']);
    const raw = await rawDeliver(b.self, { from: a.self, to: b.self, cluster, cluster_id: 'old-id', ping: { n: 2 } });
    assert.equal(statusName(raw.code), 'FAILED_PRECONDITION');
    assert.match(raw.details, /cluster id "old-id" reached .* of cluster "test-cluster", id "new-id"/);
    await sleep(50);
    assert.deepEqual(atB, []);
  });

  test('a node without an id sends and hears only on the join protocol\'s channel until it adopts one', async () => {
    const member = await node();
    const logJ = capturingLogger();
    const joiner = await node({ clusterId: null, logger: logJ });
    const atMember = { echo: [] as Ping[], config: [] as ConfigMessage[] };
    const atJoiner = { echo: [] as Ping[], config: [] as ConfigMessage[] };
    const memberEcho = member.open(echoCodec, (_f, m) => atMember.echo.push(m));
    const memberConfig = member.open(configCodec, (_f, m) => atMember.config.push(m));
    const joinerEcho = joiner.open(echoCodec, (_f, m) => atJoiner.echo.push(m));
    const joinerConfig = joiner.open(configCodec, (_f, m) => atJoiner.config.push(m));

    joinerEcho.send(member.self, { n: 1, text: 'too early' });
    joinerConfig.send(member.self, beat);
    memberEcho.send(joiner.self, { n: 2, text: 'too early' });
    memberConfig.send(joiner.self, beat);
    assert.ok(await until(() => atMember.config.length === 1 && atJoiner.config.length === 1, 5000), 'the join protocol travels both ways');
    await sleep(100);
    assert.deepEqual([atMember.echo, atJoiner.echo], [[], []], 'nothing else does');
    assert.ok(logJ.lines.some((l) => l.level === 'debug' && l.msg === 'send dropped: this node has not learned its cluster id yet (it is joining)'));
    assert.ok(logJ.lines.some((l) => l.level === 'debug' && l.msg === 'message refused: this node has not learned its cluster id yet'));

    // A member refuses a member-only message from a sender that names no id.
    const anonymous = await rawDeliver(member.self, { from: joiner.self, to: member.self, cluster, ping: { n: 3 } });
    assert.equal(statusName(anonymous.code), 'FAILED_PRECONDITION');
    assert.match(anonymous.details, /which has not learned the id of cluster "test-cluster", reached .* which only members use/);

    joiner.adoptClusterId(clusterId);
    assert.equal(joiner.clusterId, clusterId);
    joinerEcho.send(member.self, { n: 4, text: 'member now' });
    memberEcho.send(joiner.self, { n: 5, text: 'member now' });
    assert.ok(await until(() => atMember.echo.length === 1 && atJoiner.echo.length === 1, 5000));
    assert.throws(() => joiner.adoptClusterId('another'), /knows cluster id test-cluster-id, and was told to adopt another/);
  });

  test('a call from a node of another cluster id is refused as wrong-cluster; a client without an id, or with the right one, is served', async () => {
    const server = await node();
    serveEcho(server);
    const other = await node({ clusterId: 'other-id' });
    const fromOther = callLog();
    other.connect(echoCallCodec, fromOther.receive, fromOther.report).send(server.self, { n: 1, text: 'hi' });
    const sameId = await node();
    const fromSame = callLog();
    sameId.connect(echoCallCodec, fromSame.receive, fromSame.report).send(server.self, { n: 2, text: 'hi' });
    const plain = new GrpcClientTransport({ cluster, logger: silentLogger });
    const told = new GrpcClientTransport({ cluster, clusterId, logger: silentLogger });
    const wrong = new GrpcClientTransport({ cluster, clusterId: 'stale-id', logger: silentLogger });
    cleanup.push(() => plain.close(), () => told.close(), () => wrong.close());
    const logs = [callLog(), callLog(), callLog()];
    [plain, told, wrong].forEach((t, i) => t.connect(echoCallCodec, logs[i]!.receive, logs[i]!.report).send(server.self, { n: 10 + i, text: 'hi' }));
    assert.ok(await until(() => fromOther.failed.length + fromSame.got.length + logs.reduce((k, l) => k + l.got.length + l.failed.length, 0) === 5, 5000));
    expectFailure(fromOther.failed[0]!, 'wrong-cluster', /cluster id "other-id" reached .* id "test-cluster-id"/);
    expectFailure(logs[2]!.failed[0]!, 'wrong-cluster', /cluster id "stale-id"/);
    assert.deepEqual([fromSame.got.length, logs[0]!.got.length, logs[1]!.got.length], [1, 1, 1]);
    assert.throws(() => new GrpcClientTransport({ cluster, clusterId: '', logger: silentLogger }), /cluster id must be null or a string of 1 to 64/);
  });

  test('a stream opened by a node of another cluster id ends wrong-cluster before the service sees it; one of the same id is accepted', async () => {
    const server = await node();
    const accepted: Ping[] = [];
    server.serveStream(echoStreamCodec, (request, stream) => {
      accepted.push(request);
      stream.accept();
    });
    const ends: StreamEnd[] = [];
    const heard: string[] = [];
    const handlers = (who: string) => ({
      accepted: () => heard.push(`${who} accepted`),
      message: () => {},
      ended: (end: StreamEnd) => ends.push(end),
    });
    const other = await node({ clusterId: 'other-id' });
    other.openStream(echoStreamCodec, server.self, { n: 1, text: 'other' }, handlers('other'));
    const same = await node();
    const mine = same.openStream(echoStreamCodec, server.self, { n: 2, text: 'same' }, handlers('same'));
    assert.ok(await until(() => ends.length === 1 && heard.includes('same accepted'), 5000), JSON.stringify({ ends, heard }));
    assert.equal(ends[0]!.kind, 'wrong-cluster');
    assert.match(ends[0]!.detail, /stream from .* of cluster id "other-id" reached .* id "test-cluster-id"/);
    assert.deepEqual(accepted.map((r) => r.text), ['same']);
    mine.close();
  });

  test('an isolated node refuses every call, naming its cluster and id in the refusal (so that it can still be told to heal)', async () => {
    const server = await node();
    serveEcho(server);
    server.isolate();
    const client = new UnaryClient(echoCallCodec.service, server.self);
    cleanup.push(() => client.close());
    const err = await client.call('Call', { cluster, ping: { n: 1 } }, 5000).then(() => assert.fail('answered'), (e: unknown) => e);
    assert.ok(err instanceof RpcError);
    assert.equal(statusName(err.code), 'UNAVAILABLE');
    assert.deepEqual(err.named, { cluster, clusterId });
    server.heal();
  });
});
