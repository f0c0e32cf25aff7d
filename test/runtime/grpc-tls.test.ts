// GrpcTransport with mutual TLS: peers must present a certificate of the cluster CA naming the host
// of the `from` they claim, clients one of the client CA when client auth is on; every refusal is a
// typed status and a warn line, and the nodes go on talking to each other afterwards.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { type DevCerts, makeDevCerts } from '../../src/cli/dev-certs.js';
import type { NodeId } from '../../src/env/types.js';
import type { Fields } from '../../src/env/validate.js';
import type { Logger } from '../../src/env/logger.js';
import { silentLogger } from '../../src/env/logger.js';
import type { TransportOptions } from '../../src/options.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { type NodeTls, loadClientTls, loadNodeTls } from '../../src/runtime/tls-files.js';
import { type Ping, echoCallCodec, echoCodec } from '../conformance/echo-codec.js';
import { callLog, expectFailure, serveEcho } from './grpc-call-support.js';
import { capturingLogger, cluster, clusterId, freePort, peerMessageModes, sleep, statusName, until } from './grpc-support.js';

const dir = mkdtempSync(join(tmpdir(), 'synod-tls-'));
let certs: DevCerts;
/** Certificates of another cluster CA altogether. */
let strangers: DevCerts;
before(() => {
  // One certificate per host serves every port on it; 127.0.0.2 is the "other address".
  certs = makeDevCerts({ dir: join(dir, 'ours'), nodes: ['127.0.0.1:1', '127.0.0.2:1'], clients: 1 });
  strangers = makeDevCerts({ dir: join(dir, 'theirs'), nodes: ['127.0.0.1:1'], clients: 1 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const echoDeliver = serviceDefinition(echoCodec.service)['Deliver'] as MethodDefinition<Fields, object, Fields, object>;

/** Sends one envelope on the Echo channel over `credentials`; resolves to the status answered. */
function rawDeliver(target: NodeId, credentials: grpc.ChannelCredentials, envelope: Fields): Promise<{ code: grpc.status; details: string }> {
  const client = new grpc.Client(target, credentials);
  return new Promise((resolve) => {
    client.makeUnaryRequest(echoDeliver.path, echoDeliver.requestSerialize, echoDeliver.responseDeserialize, envelope,
      { deadline: Date.now() + 5000 }, (err) => {
        client.close();
        resolve(err === null ? { code: grpc.status.OK, details: '' } : { code: err.code, details: err.details });
      });
  });
}

/** Channel credentials from PEM files: the cluster CA to check the server, and optionally a certificate to present. */
function credentialsOf(files: { ca: string; cert?: string; key?: string }): grpc.ChannelCredentials {
  const tls = loadClientTls(files);
  return tls.identity === null
    ? grpc.credentials.createSsl(tls.ca.pem)
    : grpc.credentials.createSsl(tls.ca.pem, tls.identity.key, tls.identity.cert.pem);
}

for (const peerMessages of peerMessageModes) describe(`GrpcTransport with mutual TLS (peer messages: ${peerMessages})`, () => {
  const nodes: GrpcTransport[] = [];
  after(async () => void (await Promise.all(nodes.map((n) => n.close()))));

  async function node(opts: { logger?: Logger; tls?: NodeTls; host?: string; options?: Partial<TransportOptions> } = {}): Promise<GrpcTransport> {
    const self = `${opts.host ?? '127.0.0.1'}:${await freePort()}`;
    const t = await GrpcTransport.listen({
      self, cluster, clusterId, logger: opts.logger ?? silentLogger,
      options: { peerMessages, ...opts.options },
      tls: opts.tls ?? loadNodeTls(certs.node('127.0.0.1:1')),
    });
    nodes.push(t);
    return t;
  }

  test('nodes with certificates of the cluster CA exchange messages', async () => {
    const a = await node();
    const b = await node();
    const atB: Ping[] = [];
    const fromA = a.open(echoCodec, () => {});
    b.open(echoCodec, (_f, m) => atB.push(m));
    fromA.send(b.self, { n: 1, text: 'over tls' });
    assert.ok(await until(() => atB.length === 1, 5000), 'the message arrived');
  });

  test('a peer without a certificate, with one of another CA, with a client certificate, or naming another host is refused, typed and logged; the nodes go on', async () => {
    const log = capturingLogger();
    const a = await node();
    const b = await node({ logger: log });
    const atB: Array<{ from: NodeId; m: Ping }> = [];
    const fromA = a.open(echoCodec, () => {});
    b.open(echoCodec, (from, m) => atB.push({ from, m }));
    const envelope = { from: a.self, to: b.self, cluster, cluster_id: clusterId, ping: { n: 9, text: 'forged' } };

    const none = await rawDeliver(b.self, credentialsOf({ ca: certs.clusterCa }), envelope);
    assert.equal(statusName(none.code), 'UNAUTHENTICATED');
    assert.match(none.details, /certificate signed by the cluster CA; this connection presented none/);

    const stranger = await rawDeliver(b.self, credentialsOf({ ca: certs.clusterCa, ...strangerNode() }), envelope);
    assert.equal(statusName(stranger.code), 'UNAUTHENTICATED');

    const client = await rawDeliver(b.self, credentialsOf(certs.client(1)), envelope);
    assert.equal(statusName(client.code), 'PERMISSION_DENIED');
    assert.match(client.details, /not issued by the cluster CA .*only nodes may use synod\.test\.Echo/);

    const misnamed = await rawDeliver(b.self, credentialsOf({ ...certs.node('127.0.0.2:1'), ca: certs.clusterCa }), envelope);
    assert.equal(statusName(misnamed.code), 'PERMISSION_DENIED');
    assert.match(misnamed.details, new RegExp(`claims to be from ${a.self.replace(/\./g, '\\.')}, but the sender's certificate .*does not name "127\\.0\\.0\\.1"`));

    // Plaintext cannot even reach the gRPC layer of a TLS server.
    const plain = await rawDeliver(b.self, grpc.credentials.createInsecure(), envelope);
    assert.equal(statusName(plain.code), 'UNAVAILABLE');

    const refusals = log.lines.filter((l) => l.level === 'warn' && l.msg === 'tls: caller refused');
    assert.deepEqual(refusals.map((l) => l.fields['code']), ['UNAUTHENTICATED', 'PERMISSION_DENIED', 'PERMISSION_DENIED'],
      'one line per caller host and reason (the two certificate-less refusals share one)');
    await sleep(50);
    assert.deepEqual(atB, [], 'nothing refused was delivered');

    fromA.send(b.self, { n: 1, text: 'still here' });
    assert.ok(await until(() => atB.length === 1, 5000), 'the genuine peer still gets through');
  });

  test('a node whose certificate names another host cannot send as the id it claims', async () => {
    const log = capturingLogger();
    const b = await node({ logger: log });
    // Its certificate names 127.0.0.2, its id says 127.0.0.1.
    const liar = await node({ tls: loadNodeTls(certs.node('127.0.0.2:1')) });
    const atB: Ping[] = [];
    b.open(echoCodec, (_f, m) => atB.push(m));
    const fromLiar = liar.open(echoCodec, () => {});
    fromLiar.send(b.self, { n: 1, text: 'as someone else' });
    assert.ok(await until(() => log.lines.some((l) => l.msg === 'tls: caller refused' && l.fields['code'] === 'PERMISSION_DENIED'), 5000));
    assert.match(String(log.lines.find((l) => l.msg === 'tls: caller refused')!.fields['details']), /does not name "127\.0\.0\.1"/);
    await sleep(50);
    assert.deepEqual(atB, []);
  });
});

function strangerNode(): { cert: string; key: string } {
  const { cert, key } = strangers.node('127.0.0.1:1');
  return { cert, key };
}

describe('client services with client authentication on', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => void (await Promise.all(closers.map((c) => c()))));

  test('a client without a certificate is refused UNAUTHENTICATED and logged; one with a client certificate is answered', async () => {
    const log = capturingLogger();
    const server = await GrpcTransport.listen({
      self: `127.0.0.1:${await freePort()}`, cluster, clusterId, logger: log, tls: loadNodeTls(certs.node('127.0.0.1:1')),
    });
    closers.push(() => server.close());
    serveEcho(server);
    for (const wire of ['unary', 'stream'] as const) {
      const anonymous = new GrpcClientTransport({ cluster, logger: silentLogger, options: { callWire: wire }, tls: loadClientTls({ ca: certs.clusterCa }) });
      const signed = new GrpcClientTransport({ cluster, logger: silentLogger, options: { callWire: wire }, tls: loadClientTls(certs.client(1)) });
      closers.push(() => anonymous.close(), () => signed.close());
      const refused = callLog();
      anonymous.connect(echoCallCodec, refused.receive, refused.report).send(server.self, { n: 1, text: 'who am i' });
      assert.ok(await until(() => refused.failed.length === 1, 5000), `${wire}: the call failed`);
      // A refused call stream fails its requests as any stream that ended does (`unreachable`); the detail says why.
      expectFailure(refused.failed[0]!, wire === 'unary' ? 'internal' : 'unreachable', /UNAUTHENTICATED: .*client authentication: present a certificate signed by the client CA/);
      const answered = callLog();
      signed.connect(echoCallCodec, answered.receive, answered.report).send(server.self, { n: 2, text: 'me' });
      assert.ok(await until(() => answered.got.length === 1, 5000), `${wire}: the signed call was answered ${JSON.stringify(answered.failed)}`);
      assert.equal(answered.got[0]!.answer.text, 'pong me');
    }
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.msg === 'tls: caller refused' && l.fields['code'] === 'UNAUTHENTICATED'));
  });

  test('without client authentication a client needs no certificate, but still checks the node\'s', async () => {
    const { cert, key, ca } = certs.node('127.0.0.1:1');
    const server = await GrpcTransport.listen({
      self: `127.0.0.1:${await freePort()}`, cluster, clusterId, logger: silentLogger, tls: loadNodeTls({ cert, key, ca }),
    });
    closers.push(() => server.close());
    serveEcho(server);
    const anonymous = new GrpcClientTransport({ cluster, logger: silentLogger, tls: loadClientTls({ ca: certs.clusterCa }) });
    const wrongCa = new GrpcClientTransport({ cluster, logger: silentLogger, tls: loadClientTls({ ca: strangers.clusterCa }) });
    closers.push(() => anonymous.close(), () => wrongCa.close());
    const answered = callLog();
    anonymous.connect(echoCallCodec, answered.receive, answered.report).send(server.self, { n: 1, text: 'hi' });
    assert.ok(await until(() => answered.got.length === 1, 5000), JSON.stringify(answered.failed));
    const distrusted = callLog();
    wrongCa.connect(echoCallCodec, distrusted.receive, distrusted.report).send(server.self, { n: 1, text: 'hi' });
    assert.ok(await until(() => distrusted.failed.length === 1, 5000));
    expectFailure(distrusted.failed[0]!, 'unreachable', /UNAVAILABLE/);
  });
});
