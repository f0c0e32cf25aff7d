// GrpcTransport's peer channels, gRPC-specific behaviour: what a peer that speaks the wire
// format directly sees, partitions, reconnects, limits and lifecycle.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { silentLogger } from '../../src/env/logger.js';
import type { NodeId } from '../../src/env/types.js';
import type { Fields } from '../../src/env/validate.js';
import { configCodec } from '../../src/config/codec.js';
import type { ConfigMessage } from '../../src/config/messages.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import type { PaxosMessage } from '../../src/paxos/messages.js';
import { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { capturingLogger, cluster, clusterId, sleep, statusName, until, closedAfterBlock, peerMessageModes } from './grpc-support.js';

const paxosDeliver = serviceDefinition(paxosCodec.service)['Deliver'] as MethodDefinition<Fields, object, Fields, object>;

/** A bare gRPC client that sends hand-made envelopes, bypassing every check of the transport. */
class RawPeer {
  readonly #client: grpc.Client;

  constructor(target: NodeId) {
    // No send limit below the server's: the server, not this client, must refuse big messages.
    this.#client = new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
  }

  /**
   * Sends one envelope, in `cluster` unless it names its own (`cluster: undefined`: none);
   * resolves to the status the server answered.
   */
  deliver(envelope: Fields): Promise<{ code: grpc.status; details: string }> {
    return new Promise((resolve) => {
      this.#client.makeUnaryRequest(
        paxosDeliver.path,
        paxosDeliver.requestSerialize,
        paxosDeliver.responseDeserialize,
        { cluster, cluster_id: clusterId, ...envelope },
        { deadline: Date.now() + 5000 },
        (err) => resolve(err === null ? { code: grpc.status.OK, details: '' } : { code: err.code, details: err.details }),
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

for (const peerMessages of peerMessageModes) describe(`GrpcTransport (peer messages: ${peerMessages})`, { timeout: 60_000 }, () => {
  const { node, cleanup } = closedAfterBlock({ peerMessages });

  function rawPeer(target: NodeId): RawPeer {
    const peer = new RawPeer(target);
    cleanup.push(() => peer.close());
    return peer;
  }

  test('a malformed envelope is refused with INVALID_ARGUMENT naming the field, logged, never delivered, and the node keeps serving', async () => {
    const logger = capturingLogger();
    const a = await node({ logger });
    const got: PaxosMessage[] = [];
    a.open(paxosCodec, (_from, msg) => got.push(msg));
    const peer = rawPeer(a.self);
    const from = 'raw-peer:1';
    const n = { round: 1, node: from };
    const cases: Array<{ body: Fields; field: string }> = [
      // proto3 drops the zero, so the acceptor would see an absent instance: still refused.
      { body: { prepare: { instance: 0, n } }, field: 'prepare.instance' },
      { body: { decided: { instance: 3, value: { members: ['x:1', 'y:1', 'x:1'] } } }, field: 'decided.value' },
      { body: { accept: { instance: 3, n: { round: 0, node: from }, value: { members: ['x:1'] } } }, field: 'accept.n.round' },
      { body: {}, field: 'body' },
    ];
    for (const { body, field } of cases) {
      const warnsBefore = logger.lines.filter((l) => l.level === 'warn').length;
      const status = await peer.deliver({ from, to: a.self, ...body });
      assert.equal(statusName(status.code), 'INVALID_ARGUMENT', `${field}: ${status.details}`);
      assert.match(status.details, new RegExp(field.replaceAll('.', '\\.')), 'the answer names the field');
      const warns = logger.lines.filter((l) => l.level === 'warn').slice(warnsBefore);
      assert.equal(warns.length, 1, `one warn line for ${field}`);
      assert.equal(warns[0]?.fields['field'], field);
      assert.equal(warns[0]?.fields['from'], from);
      assert.equal(warns[0]?.fields['service'], paxosCodec.service);
    }
    const emptyFrom = await peer.deliver({ from: '', to: a.self, known: { instance: 1 } });
    assert.equal(statusName(emptyFrom.code), 'INVALID_ARGUMENT');
    assert.match(emptyFrom.details, /from/);

    await sleep(50);
    assert.equal(got.length, 0, 'a refused message reached the receiver');
    const ok = await peer.deliver({ from, to: a.self, known: { instance: 5 } });
    assert.equal(statusName(ok.code), 'OK');
    assert.ok(await until(() => got.length === 1, 5000));
    assert.deepEqual(got[0], { kind: 'known', instance: 5 });
  });

  test('a message addressed to another node id is refused with FAILED_PRECONDITION naming both ids', async () => {
    const logger = capturingLogger();
    const a = await node({ logger });
    const got: PaxosMessage[] = [];
    a.open(paxosCodec, (_from, msg) => got.push(msg));
    const status = await rawPeer(a.self).deliver({ from: 'raw-peer:1', to: 'someone-else:7000', known: { instance: 1 } });
    assert.equal(statusName(status.code), 'FAILED_PRECONDITION');
    assert.match(status.details, /someone-else:7000/);
    assert.ok(status.details.includes(a.self));
    assert.ok(logger.lines.some((l) => l.level === 'warn' && l.fields['to'] === 'someone-else:7000'));
    await sleep(50);
    assert.equal(got.length, 0);
  });

  test('an oversized message is refused with RESOURCE_EXHAUSTED and the node keeps serving', async () => {
    const maxMessageBytes = 64 * 1024;
    const senderLog = capturingLogger();
    const a = await node({ options: { maxMessageBytes } });
    const b = await node({ options: { maxMessageBytes }, logger: senderLog });
    const got: PaxosMessage[] = [];
    a.open(paxosCodec, (_from, msg) => got.push(msg));
    const fromB = b.open(paxosCodec, () => {});
    // ~100 values × 20 members × ~45 bytes ≈ 90 KB on the wire: above the limit, valid otherwise.
    const member = (i: number, j: number): string => `node-${i}-${j}.a-rather-long-domain.example:7000`;
    const values = Array.from({ length: 100 }, (_, i) => Array.from({ length: 20 }, (_, j) => member(i, j)));
    const big: PaxosMessage = { kind: 'decisions', first: 1, values };

    // A peer without a send limit reaches the server, which refuses before decoding.
    const status = await rawPeer(a.self).deliver({ from: b.self, to: a.self, ...paxosCodec.encode(big) });
    assert.equal(statusName(status.code), 'RESOURCE_EXHAUSTED', status.details);

    // Our own transport refuses to send it (same limit), without throwing, and says so.
    fromB.send(a.self, big);
    assert.ok(
      await until(() => senderLog.lines.some((l) => l.level === 'warn' && l.fields['code'] === 'RESOURCE_EXHAUSTED'), 5000),
      'the sender logged no warning for the refused message',
    );

    fromB.send(a.self, { kind: 'known', instance: 3 });
    assert.ok(await until(() => got.length === 1, 5000), 'the node stopped serving');
    assert.deepEqual(got, [{ kind: 'known', instance: 3 }]);
  });

  test('isolate() drops traffic both ways, messages to oneself still arrive, and heal() restores it', async () => {
    const a = await node();
    const b = await node();
    const atA: PaxosMessage[] = [];
    const atB: PaxosMessage[] = [];
    const fromA = a.open(paxosCodec, (_f, m) => atA.push(m));
    const fromB = b.open(paxosCodec, (_f, m) => atB.push(m));
    const known = (instance: number): PaxosMessage => ({ kind: 'known', instance });

    a.isolate();
    assert.ok(a.blocked(b.self) && !a.blocked(a.self));
    fromA.send(b.self, known(1));
    fromB.send(a.self, known(1));
    fromA.send(a.self, known(2));
    // A message that does reach the isolated node's server is answered like a network failure.
    const status = await rawPeer(a.self).deliver({ from: b.self, to: a.self, known: { instance: 1 } });
    assert.equal(statusName(status.code), 'UNAVAILABLE');
    assert.ok(await until(() => atA.length === 1, 5000), 'the message to oneself did not arrive');
    await sleep(300);
    assert.deepEqual(atA, [known(2)]);
    assert.deepEqual(atB, []);

    a.heal();
    assert.ok(!a.blocked(b.self));
    fromA.send(b.self, known(3));
    fromB.send(a.self, known(3));
    assert.ok(await until(() => atA.length === 2 && atB.length === 1, 5000), 'traffic did not resume after heal');
    assert.deepEqual(atA[1], known(3));
    assert.deepEqual(atB, [known(3)]);
  });

  test('blockPeers() splits a node from the named peers only', async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    const atA: NodeId[] = [];
    const fromA = a.open(paxosCodec, (from) => atA.push(from));
    const fromB = b.open(paxosCodec, () => {});
    const atC: NodeId[] = [];
    const fromC = c.open(paxosCodec, (from) => atC.push(from));
    a.blockPeers([b.self]);
    fromB.send(a.self, { kind: 'known', instance: 1 });
    fromC.send(a.self, { kind: 'known', instance: 1 });
    fromA.send(c.self, { kind: 'known', instance: 1 });
    assert.ok(await until(() => atA.length === 1 && atC.length === 1, 5000));
    await sleep(200);
    assert.deepEqual(atA, [c.self]);
    assert.deepEqual(atC, [a.self]);
  });

  test('blockPeers() with services cuts those channels with the named peers, both ways, while the others flow', async () => {
    const [a, b] = [await node(), await node()];
    const paxosAt: Record<string, NodeId[]> = { a: [], b: [] };
    const configAt: Record<string, NodeId[]> = { a: [], b: [] };
    const paxosFromA = a.open(paxosCodec, (from) => paxosAt['a']!.push(from));
    const paxosFromB = b.open(paxosCodec, (from) => paxosAt['b']!.push(from));
    const configFromA = a.open(configCodec, (from) => configAt['a']!.push(from));
    const configFromB = b.open(configCodec, (from) => configAt['b']!.push(from));
    const heartbeat: ConfigMessage = { kind: 'heartbeat', vid: 1, incarnation: 'i', stale: false };
    assert.deepEqual(a.channelServices, [paxosCodec.service, configCodec.service]);

    a.blockPeers([b.self], [paxosCodec.service]);
    assert.ok(a.blocked(b.self, paxosCodec.service) && !a.blocked(b.self, configCodec.service));
    assert.ok(!a.blocked(b.self), 'not every channel is cut');
    paxosFromA.send(b.self, { kind: 'known', instance: 1 });
    paxosFromB.send(a.self, { kind: 'known', instance: 1 });
    configFromA.send(b.self, heartbeat);
    configFromB.send(a.self, heartbeat);
    assert.ok(await until(() => configAt['a']!.length === 1 && configAt['b']!.length === 1, 5000), 'config traffic did not flow');
    await sleep(300);
    assert.deepEqual(paxosAt, { a: [], b: [] }, 'paxos traffic crossed the cut');

    // A later call without services widens the cut to every channel; heal lifts all of it.
    a.blockPeers([b.self]);
    assert.ok(a.blocked(b.self));
    assert.throws(() => a.blockPeers([b.self], ['synod.nope.Nope']), /synod\.nope\.Nope is no channel/);
    a.heal();
    paxosFromB.send(a.self, { kind: 'known', instance: 2 });
    assert.ok(await until(() => paxosAt['a']!.length === 1, 5000), 'paxos traffic did not resume after heal');
  });

  test('a peer that restarts on the same port is reached again by the cached client', async (t) => {
    const reconnectBackoffMaxMs = 500;
    const options = { reconnectBackoffMaxMs };
    const a = await node({ options });
    const b = await node({ options });
    const fromA = a.open(paxosCodec, () => {});
    const atB: PaxosMessage[] = [];
    b.open(paxosCodec, (_f, m) => atB.push(m));
    fromA.send(b.self, { kind: 'known', instance: 1 });
    assert.ok(await until(() => atB.length === 1, 5000));

    await b.close();
    // Keep sending while b is down, so that a's connection is in reconnect backoff, not idle.
    for (let i = 0; i < 20; i++) {
      fromA.send(b.self, { kind: 'known', instance: 2 });
      await sleep(50);
    }

    const atB2: PaxosMessage[] = [];
    const b2 = await node({ self: b.self, options });
    b2.open(paxosCodec, (_f, m) => atB2.push(m));
    const restarted = performance.now();
    const margin = 1500;
    while (atB2.length === 0 && performance.now() - restarted < reconnectBackoffMaxMs + margin) {
      fromA.send(b.self, { kind: 'known', instance: 3 });
      await sleep(20);
    }
    const tookMs = performance.now() - restarted;
    assert.ok(atB2.length > 0, `not reached within ${reconnectBackoffMaxMs + margin} ms of the restart`);
    assert.deepEqual(atB2[0], { kind: 'known', instance: 3 });
    // Reported so regressions in reconnect time are visible in the test output.
    t.diagnostic(`reconnected after ${tookMs.toFixed(0)} ms`);
  });

  test('a receiver that throws is logged and the node keeps serving', async () => {
    const logger = capturingLogger();
    const a = await node({ logger });
    const b = await node();
    let calls = 0;
    a.open(paxosCodec, () => {
      calls++;
      if (calls === 1) throw new Error('receiver bug');
    });
    const fromB = b.open(paxosCodec, () => {});
    fromB.send(a.self, { kind: 'known', instance: 1 });
    assert.ok(await until(() => calls === 1, 5000));
    fromB.send(a.self, { kind: 'known', instance: 2 });
    assert.ok(await until(() => calls === 2, 5000), 'the node stopped serving after a receiver threw');
    assert.ok(logger.lines.some((l) => l.level === 'error' && l.msg.includes('receiver threw')));
  });

  test('close() is idempotent, and a closed transport neither sends nor delivers', async () => {
    const a = await node();
    const b = await node();
    const atA: PaxosMessage[] = [];
    const atB: PaxosMessage[] = [];
    const fromA = a.open(paxosCodec, (_f, m) => atA.push(m));
    const fromB = b.open(paxosCodec, (_f, m) => atB.push(m));
    // Connected before the close, so that a send after it would find a ready connection.
    fromA.send(b.self, { kind: 'known', instance: 1 });
    assert.ok(await until(() => atB.length === 1, 5000), 'the message sent before close did not arrive');
    fromA.send(a.self, { kind: 'known', instance: 1 }); // queued for delivery after close: must not arrive
    await Promise.all([a.close(), a.close()]);
    await a.close();
    fromA.send(b.self, { kind: 'known', instance: 2 });
    fromB.send(a.self, { kind: 'known', instance: 2 });
    await sleep(200);
    assert.deepEqual(atA, [], 'the closed transport delivered a message');
    // b still receives (its own message arrives), so nothing from the closed a arrived at it.
    fromB.send(b.self, { kind: 'known', instance: 3 });
    assert.ok(await until(() => atB.length >= 2, 5000), "b's receiver stopped working");
    await sleep(100);
    assert.deepEqual(atB, [{ kind: 'known', instance: 1 }, { kind: 'known', instance: 3 }], 'the closed transport sent a message');
    assert.throws(() => a.open(paxosCodec, () => {}), /closed/);
  });

  test('two transports with different cluster names cannot exchange messages; the refusal names both clusters', async () => {
    const logA = capturingLogger();
    const logB = capturingLogger();
    const a = await node({ cluster: 'alpha', logger: logA });
    const b = await node({ cluster: 'beta', logger: logB });
    const atA: PaxosMessage[] = [];
    const atB: PaxosMessage[] = [];
    const fromA = a.open(paxosCodec, (_f, m) => atA.push(m));
    const fromB = b.open(paxosCodec, (_f, m) => atB.push(m));
    fromA.send(b.self, { kind: 'known', instance: 1 });
    fromB.send(a.self, { kind: 'known', instance: 1 });

    // Each sender logs the refusal it got back; each receiver logs what it refused.
    const refusedTo = (log: typeof logA, to: NodeId) => (): boolean =>
      log.lines.some((l) => l.level === 'warn' && l.fields['to'] === to && l.fields['code'] === 'FAILED_PRECONDITION');
    assert.ok(await until(refusedTo(logA, b.self), 5000), 'a logged no refusal from b');
    assert.ok(await until(refusedTo(logB, a.self), 5000), 'b logged no refusal from a');
    const refusal = logA.lines.find((l) => l.level === 'warn' && l.fields['to'] === b.self);
    assert.match(String(refusal?.fields['details']), /"alpha"/);
    assert.match(String(refusal?.fields['details']), /"beta"/);
    const refused = logB.lines.find((l) => l.level === 'warn' && l.msg.includes('another cluster'));
    assert.equal(refused?.fields['from'], a.self);
    assert.equal(refused?.fields['senderCluster'], '"alpha"');
    assert.equal(refused?.fields['cluster'], '"beta"');
    await sleep(100);
    assert.deepEqual(atA, [], "a's receiver was called");
    assert.deepEqual(atB, [], "b's receiver was called");

    // The same for a peer speaking the wire format directly, and for one that sends no cluster name.
    const foreign = await rawPeer(b.self).deliver({ from: a.self, to: b.self, cluster: 'alpha', known: { instance: 2 } });
    assert.equal(statusName(foreign.code), 'FAILED_PRECONDITION');
    assert.ok(foreign.details.includes('"alpha"') && foreign.details.includes('"beta"'), foreign.details);
    const anonymous = await rawPeer(b.self).deliver({ from: a.self, to: b.self, cluster: undefined, known: { instance: 2 } });
    assert.equal(statusName(anonymous.code), 'FAILED_PRECONDITION');
    assert.match(anonymous.details, /of cluster \(none\) reached .* of cluster "beta"/);
    await sleep(50);
    assert.deepEqual(atB, [], "b's receiver was called");

    // Within one cluster the same two kinds of node talk.
    const b2 = await node({ cluster: 'alpha' });
    const atB2: PaxosMessage[] = [];
    b2.open(paxosCodec, (_f, m) => atB2.push(m));
    fromA.send(b2.self, { kind: 'known', instance: 3 });
    assert.ok(await until(() => atB2.length === 1, 5000), 'a message within one cluster did not arrive');
  });

  test('a transport without a cluster name is refused at listen', async () => {
    await assert.rejects(
      GrpcTransport.listen({ self: '127.0.0.1:0', cluster: '', logger: silentLogger }),
      /cluster must be a non-empty string/,
    );
  });

  test('at most maxPeerClients peer clients are kept, and the least recently used one is closed first', async () => {
    const logger = capturingLogger();
    const a = await node({ logger, options: { maxPeerClients: 2 } });
    const [b, c, d] = [await node(), await node(), await node()];
    const fromA = a.open(paxosCodec, () => {});
    const arrived = new Map<NodeId, number>();
    for (const peer of [b, c, d]) peer.open(paxosCodec, () => arrived.set(peer.self, (arrived.get(peer.self) ?? 0) + 1));
    const evicted = (): unknown[] => logger.lines.filter((l) => l.msg.includes('evicted')).map((l) => l.fields['peer']);
    const sendAndWait = async (to: GrpcTransport): Promise<void> => {
      const before = arrived.get(to.self) ?? 0;
      fromA.send(to.self, { kind: 'known', instance: 1 });
      assert.ok(await until(() => (arrived.get(to.self) ?? 0) === before + 1, 5000), `no message reached ${to.self}`);
    };

    await sendAndWait(b);
    await sendAndWait(c);
    assert.deepEqual(evicted(), [], 'two peers fit');
    await sendAndWait(d); // a third: b, the least recently used, goes
    assert.deepEqual(evicted(), [b.self]);
    await sendAndWait(c); // c is now the most recently used, d the least
    await sendAndWait(b); // b is dialled again, and d goes (not c: least recently used, not first in)
    assert.deepEqual(evicted(), [b.self, d.self]);
    assert.deepEqual([b, c, d].map((peer) => arrived.get(peer.self)), [2, 2, 1]);
  });

  test('maxPeerClients must be a positive integer', async () => {
    for (const maxPeerClients of [0, 1.5]) {
      await assert.rejects(
        GrpcTransport.listen({ self: '127.0.0.1:0', cluster, logger: silentLogger, options: { maxPeerClients } }),
        /maxPeerClients must be a positive/,
      );
    }
  });

  test('a node id whose port differs from the bound one is refused at listen', async () => {
    await assert.rejects(
      GrpcTransport.listen({ self: '127.0.0.1:0', cluster, logger: silentLogger }),
      /bound port \d+, but the node id says 0/,
    );
  });

  test('opening the same channel twice is a programmer error', async () => {
    const a = await node();
    a.open(paxosCodec, () => {});
    assert.throws(() => a.open(paxosCodec, () => {}), /opened twice/);
  });
});
