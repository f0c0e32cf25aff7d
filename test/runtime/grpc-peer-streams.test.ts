// Peer streams (TransportOptions.peerMessages 'stream'), over real gRPC on loopback: one control
// stream per pair carries every channel's small messages in order, a bulk stream the large ones,
// and a stalled bulk lane does not hold up the control lane; refusals come back as notices the
// sender logs and the stream goes on; a restarted peer gets a new stream; a peer that does not read
// makes the sender drop beyond each lane's bound instead of holding more; partitions, stream limits and close.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { InvalidMessageError } from '../../src/env/errors.js';
import type { NodeId } from '../../src/env/types.js';
import type { Fields } from '../../src/env/validate.js';
import type { WireCodec } from '../../src/env/transport.js';
import { configCodec } from '../../src/config/codec.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import { type PeerMessages, transportOptions } from '../../src/options.js';
import type { PaxosMessage } from '../../src/paxos/messages.js';
import { peerStreamMethod } from '../../src/runtime/grpc-peer-frames.js';
import { laneMetadataKey } from '../../src/runtime/grpc-peer-lane.js';
import type { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { type Ping, echoCodec } from '../conformance/echo-codec.js';
import { capturingLogger, cluster, clusterId, sleep, statusName, until, closedAfterBlock } from './grpc-support.js';

const method = peerStreamMethod();
const paxosEnvelope = serviceDefinition(paxosCodec.service)['Deliver']!;
const known = (instance: number): PaxosMessage => ({ kind: 'known', instance });
const linkTo = (t: GrpcTransport, peer: NodeId) => t.peerStats().find((s) => s.peer === peer);

/** A bare stream client that writes hand-made frames and collects the notices that come back. */
function rawStream(target: NodeId): { write: (frame: Fields) => void; notices: Fields[]; close: () => void } {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
  const notices: Fields[] = [];
  call.on('data', (n: Fields) => notices.push(n));
  call.on('error', () => {});
  return { write: (frame) => void call.write(frame), notices, close: () => { call.cancel(); client.close(); } };
}

/** A paxos message of about 40 KB, above the default `peerControlFrameBytes` (16 KiB): it goes by the bulk lane. */
function bigMessage(): PaxosMessage {
  // 40 values of 20 members of ~50 characters.
  const values = Array.from({ length: 40 }, (_, i) => Array.from({ length: 20 }, (_, j) => `node-${i}-${j}.a-rather-long-domain-name.example:7000`));
  return { kind: 'decisions', first: 1, values };
}

/** A paxos message of about 1 KB, within `peerControlFrameBytes`: it goes by the control lane. */
function smallMessage(instance: number): PaxosMessage {
  return { kind: 'decisions', first: instance, values: [Array.from({ length: 20 }, (_, j) => `node-${j}.a-rather-long-domain-name.example:7000`)] };
}

/**
 * A bare receiver that takes every stream and reads the frames of the lanes in `reading`, while
 * the others' stay unread (paused) until `resume()`: counts frames read per lane.
 */
async function laneReceiver(reading: ReadonlySet<string>): Promise<{ peer: NodeId; read: Record<string, number>; resume: () => void; close: () => void }> {
  const server = new grpc.Server();
  const read: Record<string, number> = { control: 0, bulk: 0 };
  const paused: grpc.ServerDuplexStream<Fields, Fields>[] = [];
  server.addService({ Stream: method } as grpc.ServiceDefinition, {
    Stream: (call: grpc.ServerDuplexStream<Fields, Fields>) => {
      const lane = String(call.metadata.get(laneMetadataKey)[0] ?? '');
      call.sendMetadata(new grpc.Metadata());
      call.on('data', () => read[lane] = (read[lane] ?? 0) + 1);
      call.on('error', () => {});
      if (!reading.has(lane)) {
        call.pause();
        paused.push(call);
      }
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))));
  return { peer: `127.0.0.1:${port}`, read, resume: () => paused.forEach((c) => c.resume()), close: () => server.forceShutdown() };
}

/** A paxos envelope as bytes, in this test's cluster unless `fields` say otherwise. */
function envelopeBytes(fields: Fields): Buffer {
  return paxosEnvelope.requestSerialize({ cluster, cluster_id: clusterId, ...fields }) as Buffer;
}

describe('GrpcTransport peer streams', { timeout: 60_000 }, () => {
  const { node, cleanup } = closedAfterBlock({ peerMessages: 'stream' });

  test('small messages of two channels to one peer travel over one stream (the control lane) and arrive in the order sent', async () => {
    const [a, b] = [await node(), await node()];
    const paxosFromA = a.open(paxosCodec, () => {});
    const configFromA = a.open(configCodec, () => {});
    const got: string[] = [];
    b.open(paxosCodec, (from, m) => got.push(`${from} paxos ${m.kind === 'known' ? m.instance : '?'}`));
    b.open(configCodec, (from, m) => got.push(`${from} config ${m.kind === 'heartbeat' ? m.vid : '?'}`));
    const sent: string[] = [];
    for (let i = 1; i <= 300; i++) {
      if (i % 3 === 0) {
        configFromA.send(b.self, { kind: 'heartbeat', vid: i, incarnation: 'i', stale: false });
        sent.push(`${a.self} config ${i}`);
      } else {
        paxosFromA.send(b.self, known(i));
        sent.push(`${a.self} paxos ${i}`);
      }
    }
    assert.ok(await until(() => got.length === sent.length, 10_000), `${got.length} of ${sent.length} arrived`);
    assert.deepEqual(got, sent);
    const link = linkTo(a, b.self);
    assert.equal(link?.streamsOpened, 1);
    assert.equal(link?.framesWritten, 300);
    assert.equal(link?.lanes.control.framesWritten, 300);
    assert.equal(link?.lanes.bulk.streamsOpened, 0, 'small messages opened a bulk stream');
    assert.equal(b.incomingPeerStreams, 1);
  });

  test('refused frames are answered by notices naming them, logged on both sides, and the stream serves the next good one', async () => {
    const log = capturingLogger();
    const b = await node({ logger: log });
    const got: PaxosMessage[] = [];
    b.open(paxosCodec, (_f, m) => got.push(m));
    const raw = rawStream(b.self);
    cleanup.push(raw.close);
    const from = 'raw-peer:1';
    raw.write({ seq: 1, service: paxosCodec.service, envelope: envelopeBytes({ from, to: b.self, cluster_id: 'other-id', known: { instance: 1 } }) });
    raw.write({ seq: 2, service: paxosCodec.service, envelope: envelopeBytes({ from, to: b.self, prepare: { instance: 0, n: { round: 1, node: from } } }) });
    raw.write({ seq: 3, service: paxosCodec.service, envelope: Buffer.from([0xff, 0xff, 0xff]) });
    raw.write({ seq: 4, service: 'synod.nope.Nope', envelope: envelopeBytes({ from, to: b.self, known: { instance: 1 } }) });
    raw.write({ seq: 5, service: paxosCodec.service, envelope: envelopeBytes({ from, to: b.self, known: { instance: 7 } }) });
    assert.ok(await until(() => raw.notices.length === 4 && got.length === 1, 5000), `${raw.notices.length} notices, ${got.length} delivered`);
    assert.deepEqual(raw.notices.map((n) => [n['seq'], statusName(n['code'] as number)]),
      [[1, 'FAILED_PRECONDITION'], [2, 'INVALID_ARGUMENT'], [3, 'INVALID_ARGUMENT'], [4, 'UNIMPLEMENTED']]);
    assert.match(String(raw.notices[0]!['details']), /cluster id "other-id"/);
    assert.match(String(raw.notices[1]!['details']), /prepare\.instance/);
    assert.match(String(raw.notices[2]!['details']), /not a Envelope message/);
    assert.deepEqual(got, [known(7)]);
    const warns = log.lines.filter((l) => l.level === 'warn').map((l) => l.msg);
    assert.ok(warns.some((m) => m.includes('another cluster id')), 'the wrong id was not logged');
    assert.ok(warns.some((m) => m.includes('failed validation')), 'the failed validation was not logged');
    assert.ok(warns.some((m) => m.includes('not a message of its type')), 'the undecodable envelope was not logged');

    // A real sender logs the notice as it logs a refused unary call, and keeps its stream.
    const senderLog = capturingLogger();
    const a = await node({ logger: senderLog });
    const strict: WireCodec<Ping> = {
      ...echoCodec,
      decode: (wire) => {
        const ping = echoCodec.decode(wire);
        if (ping.text === 'bad') throw new InvalidMessageError('ping.text', 'this receiver refuses "bad"');
        return ping;
      },
    };
    const pings: Ping[] = [];
    b.open(strict, (_f, m) => pings.push(m));
    const fromA = a.open(echoCodec, () => {});
    fromA.send(b.self, { n: 1, text: 'bad' });
    fromA.send(b.self, { n: 2, text: 'good' });
    assert.ok(await until(() => pings.length === 1, 5000));
    assert.deepEqual(pings, [{ n: 2, text: 'good' }]);
    assert.ok(await until(() => senderLog.lines.some((l) => l.level === 'warn' && l.msg === 'send refused by peer'), 5000));
    const line = senderLog.lines.find((l) => l.msg === 'send refused by peer')!;
    assert.deepEqual([line.fields['to'], line.fields['service'], line.fields['frame'], line.fields['code']], [b.self, echoCodec.service, 1, 'INVALID_ARGUMENT']);
    assert.match(String(line.fields['details']), /ping\.text/);
    assert.equal(linkTo(a, b.self)?.streamsOpened, 1);
    assert.equal(linkTo(a, b.self)?.refusedFrames, 1);
  });

  test('a peer that restarts on the same port gets a new stream, and the next sends arrive', async () => {
    const options = { reconnectBackoffMaxMs: 500 };
    const a = await node({ options });
    const b = await node({ options });
    const fromA = a.open(paxosCodec, () => {});
    const atB: PaxosMessage[] = [];
    b.open(paxosCodec, (_f, m) => atB.push(m));
    fromA.send(b.self, known(1));
    assert.ok(await until(() => atB.length === 1, 5000));
    await b.close();
    assert.ok(await until(() => linkTo(a, b.self)?.state !== 'open', 5000), 'the stream to the closed peer still looks open');
    for (let i = 0; i < 10; i++) {
      fromA.send(b.self, known(2));
      await sleep(50);
    }
    const atB2: PaxosMessage[] = [];
    const b2 = await node({ self: b.self, options });
    b2.open(paxosCodec, (_f, m) => atB2.push(m));
    const arrived = await until(() => {
      fromA.send(b.self, known(3));
      return atB2.length > 0;
    }, 3000);
    assert.ok(arrived, 'nothing reached the restarted peer');
    assert.deepEqual(atB2[0], known(3));
    const link = linkTo(a, b.self)!;
    assert.ok(link.streamsOpened >= 2, `streams opened: ${link.streamsOpened}`);
    assert.ok(link.droppedDown > 0, 'nothing was counted as dropped while the peer was down');
  });

  test('a peer that does not read its bulk stream makes the sender drop large messages beyond peerQueueBytes, counted and logged, and hold no more', async (t) => {
    // The receiver: a bare server that takes the stream and never reads from it until told to.
    const server = new grpc.Server();
    let stalled: grpc.ServerDuplexStream<Fields, Fields> | undefined;
    let read = 0;
    server.addService({ Stream: method } as grpc.ServiceDefinition, {
      Stream: (call: grpc.ServerDuplexStream<Fields, Fields>) => {
        stalled = call;
        call.sendMetadata(new grpc.Metadata());
        call.on('data', () => read++);
        call.on('error', () => {});
        call.pause();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))));
    cleanup.push(() => server.forceShutdown());
    const peer: NodeId = `127.0.0.1:${port}`;

    const peerQueueBytes = 256 * 1024;
    const log = capturingLogger();
    const a = await node({ logger: log, options: { peerQueueBytes } });
    const fromA = a.open(paxosCodec, () => {});
    const big = bigMessage();
    let offered = 0;
    const send = (): void => {
      fromA.send(peer, big);
      offered++;
    };
    assert.ok(await until(() => {
      send();
      return stalled !== undefined;
    }, 5000), 'the stream never reached the receiver');
    const sends = 750; // ~30 MB offered, over 100 times the bound
    let highest = 0;
    for (let i = 0; i < sends; i++) {
      send();
      const s = linkTo(a, peer)!;
      highest = Math.max(highest, s.queuedBytes + s.unflushedBytes);
      if (i % 100 === 0) await sleep(1); // let grpc-js and HTTP/2 move what they can
    }
    const stats = linkTo(a, peer)!;
    t.diagnostic(`held at most ${highest} bytes; written ${stats.framesWritten}, dropped ${stats.droppedFull} of ${offered}`);
    assert.ok(highest <= peerQueueBytes, `held ${highest} bytes, above the bound of ${peerQueueBytes}`);
    assert.ok(stats.droppedFull > sends / 2, `only ${stats.droppedFull} of ${sends} dropped`);
    assert.equal(stats.streamsOpened, 1);
    assert.equal(stats.lanes.bulk.droppedFull, stats.droppedFull, 'large messages were dropped from the control lane');
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.msg.startsWith('messages to peer dropped') && (l.fields['dropped'] as number) >= 1),
      'no warn line about the drops');
    const warned = log.lines.filter((l) => l.msg.startsWith('messages to peer dropped')).length;
    assert.ok(warned <= 5, `${warned} drop lines: not rate-limited`);

    // Every message was either taken by the stream or counted as dropped; once the receiver reads
    // again, every frame the stream took arrives (the queue drains into it), and nothing else.
    stalled!.resume();
    assert.ok(await until(() => read === linkTo(a, peer)!.framesWritten && linkTo(a, peer)!.queuedFrames === 0, 10_000),
      `read ${read} of ${linkTo(a, peer)!.framesWritten} frames written`);
    const after = linkTo(a, peer)!;
    assert.equal(after.framesWritten + after.droppedFull + after.droppedDown, offered);
    assert.equal(after.droppedDown, 0);
    await sleep(200);
    assert.equal(read, after.framesWritten);
  });

  test('small messages arrive while the bulk lane to the same peer is stalled and full', async () => {
    // Proves design §3 on the wire: a heartbeat-sized message does not wait behind, nor is dropped
    // for, large ones queued for the same peer.
    const rx = await laneReceiver(new Set(['control']));
    cleanup.push(rx.close);
    const a = await node({ options: { peerQueueBytes: 256 * 1024 } });
    const fromA = a.open(paxosCodec, () => {});
    const big = bigMessage();
    // Fill the bulk lane until it drops: its stream is open and unread, its queue at the bound.
    assert.ok(await until(() => {
      for (let i = 0; i < 20; i++) fromA.send(rx.peer, big);
      return (linkTo(a, rx.peer)?.lanes.bulk.droppedFull ?? 0) > 0;
    }, 5000), 'the bulk lane never filled');
    const small = 200;
    for (let i = 1; i <= small; i++) {
      fromA.send(rx.peer, smallMessage(i));
      fromA.send(rx.peer, big); // more bulk work keeps arriving behind them
    }
    assert.ok(await until(() => rx.read['control'] === small, 5000), `${rx.read['control']} of ${small} small messages arrived`);
    const { lanes } = linkTo(a, rx.peer)!;
    // The large messages the bulk stream took are all still unread, and most were dropped.
    assert.ok(lanes.bulk.framesWritten > 0);
    assert.equal(rx.read['bulk'], 0, 'the stalled bulk stream was read');
    assert.ok(lanes.bulk.droppedFull > small, `only ${lanes.bulk.droppedFull} large messages dropped`);
    assert.equal(lanes.control.droppedFull + lanes.control.droppedDown, 0);
    assert.equal(lanes.control.framesWritten, small);
    assert.equal(lanes.control.streamsOpened, 1);
    assert.equal(lanes.bulk.streamsOpened, 1);
  });

  test('each lane drops beyond its own bound, counted per lane, and the sums stay whole', async (t) => {
    // Proves the bounds are per lane: a peer that reads nothing costs at most both bounds.
    const rx = await laneReceiver(new Set());
    cleanup.push(rx.close);
    const [peerQueueBytes, peerControlQueueBytes] = [256 * 1024, 64 * 1024];
    const a = await node({ options: { peerQueueBytes, peerControlQueueBytes } });
    const fromA = a.open(paxosCodec, () => {});
    const big = bigMessage();
    const offered = { control: 0, bulk: 0 };
    const highest = { control: 0, bulk: 0 };
    for (let i = 0; i < 3000; i++) {
      fromA.send(rx.peer, smallMessage(i));
      offered.control++;
      if (i % 4 === 0) {
        fromA.send(rx.peer, big);
        offered.bulk++;
      }
      const { lanes } = linkTo(a, rx.peer)!;
      for (const lane of ['control', 'bulk'] as const) highest[lane] = Math.max(highest[lane], lanes[lane].queuedBytes + lanes[lane].unflushedBytes);
      if (i % 100 === 0) await sleep(1);
    }
    const s = linkTo(a, rx.peer)!;
    t.diagnostic(`held at most ${JSON.stringify(highest)}; dropped control ${s.lanes.control.droppedFull} of ${offered.control}, bulk ${s.lanes.bulk.droppedFull} of ${offered.bulk}`);
    assert.ok(highest.control <= peerControlQueueBytes, `control lane held ${highest.control} bytes`);
    assert.ok(highest.bulk <= peerQueueBytes, `bulk lane held ${highest.bulk} bytes`);
    assert.deepEqual([s.lanes.control.queueBytes, s.lanes.bulk.queueBytes], [peerControlQueueBytes, peerQueueBytes]);
    assert.ok(s.lanes.control.droppedFull > offered.control / 2, `control: only ${s.lanes.control.droppedFull} dropped`);
    assert.ok(s.lanes.bulk.droppedFull > offered.bulk / 2, `bulk: only ${s.lanes.bulk.droppedFull} dropped`);
    for (const lane of ['control', 'bulk'] as const) {
      const l = s.lanes[lane];
      assert.equal(l.framesWritten + l.queuedFrames + l.droppedFull + l.droppedDown, offered[lane], `${lane}: written, queued and dropped do not add up`);
    }
    assert.equal(s.droppedFull, s.lanes.control.droppedFull + s.lanes.bulk.droppedFull);
    assert.equal(s.framesWritten, s.lanes.control.framesWritten + s.lanes.bulk.framesWritten);
    assert.equal(s.streamsOpened, 2);
    // Once the receiver reads again, every frame each lane took arrives.
    rx.resume();
    assert.ok(await until(() => {
      const now = linkTo(a, rx.peer)!.lanes;
      return rx.read['control'] === now.control.framesWritten && rx.read['bulk'] === now.bulk.framesWritten;
    }, 10_000), `read ${JSON.stringify(rx.read)}`);
  });

  test('a partition refuses frames at the receiver while the stream stays up, and after heal the same stream delivers', async () => {
    const [a, b] = [await node(), await node()];
    const fromA = a.open(paxosCodec, () => {});
    const atB: PaxosMessage[] = [];
    b.open(paxosCodec, (_f, m) => atB.push(m));
    fromA.send(b.self, known(1));
    assert.ok(await until(() => atB.length === 1, 5000));
    b.blockPeers([a.self]);
    for (let i = 2; i <= 5; i++) fromA.send(b.self, known(i));
    assert.ok(await until(() => linkTo(a, b.self)?.refusedFrames === 4, 5000), 'the refusals were not reported back');
    await sleep(100);
    assert.deepEqual(atB, [known(1)], 'a frame crossed the partition');
    b.heal();
    fromA.send(b.self, known(6));
    assert.ok(await until(() => atB.length === 2, 5000));
    assert.deepEqual(atB, [known(1), known(6)]);
    assert.equal(linkTo(a, b.self)?.streamsOpened, 1);
  });

  test('at most maxPeerStreams streams are held open to a node; one more is refused and logged, its messages are lost', async () => {
    const log = capturingLogger();
    const b = await node({ logger: log, options: { maxPeerStreams: 1 } });
    const [a, c] = [await node(), await node()];
    const from = new Map<NodeId, number>();
    b.open(paxosCodec, (f) => from.set(f, (from.get(f) ?? 0) + 1));
    const fromA = a.open(paxosCodec, () => {});
    const fromC = c.open(paxosCodec, () => {});
    fromA.send(b.self, known(1));
    assert.ok(await until(() => from.get(a.self) === 1, 5000));
    fromC.send(b.self, known(1));
    assert.ok(await until(() => log.lines.some((l) => l.level === 'warn' && l.msg.includes('peer stream refused: too many open')), 5000));
    assert.ok(await until(() => linkTo(c, b.self)?.state !== 'open', 5000));
    await sleep(100);
    assert.equal(from.get(c.self), undefined);
    assert.equal(b.incomingPeerStreams, 1);
    // a's stream ends with a's transport; then c's next stream is taken.
    await a.close();
    assert.ok(await until(() => b.incomingPeerStreams === 0, 5000), 'the closed sender\'s stream is still held');
    assert.ok(await until(() => {
      fromC.send(b.self, known(2));
      return from.get(c.self) !== undefined;
    }, 5000), 'c never got a stream');
  });

  test('close() ends the streams in both directions', async () => {
    const [a, b] = [await node(), await node()];
    const fromA = a.open(paxosCodec, () => {});
    const fromB = b.open(paxosCodec, () => {});
    fromA.send(b.self, known(1));
    fromB.send(a.self, known(1));
    assert.ok(await until(() => a.incomingPeerStreams === 1 && b.incomingPeerStreams === 1, 5000));
    await b.close();
    assert.ok(await until(() => a.incomingPeerStreams === 0, 5000), "b's stream to a outlived b");
    assert.ok(await until(() => linkTo(a, b.self)?.state !== 'open', 5000), "a's stream to b outlived b");
    assert.deepEqual(b.peerStats(), [], 'a closed transport keeps no links');
  });

  test('a node hears peers of either setting; a unary sender keeps no streams', async () => {
    const b = await node();
    const u = await node({ options: { peerMessages: 'unary' } });
    const a = await node();
    const heard: NodeId[] = [];
    b.open(paxosCodec, (f) => heard.push(f));
    const fromU = u.open(paxosCodec, () => {});
    const fromA = a.open(paxosCodec, () => {});
    fromU.send(b.self, known(1));
    fromA.send(b.self, known(1));
    assert.ok(await until(() => heard.length === 2, 5000));
    assert.deepEqual(new Set(heard), new Set([u.self, a.self]));
    assert.deepEqual(u.peerStats(), []);
    assert.equal(b.incomingPeerStreams, 1);
  });

  test('peerMessages is "stream" or "unary", and the byte and stream bounds are positive integers', () => {
    assert.equal(transportOptions(undefined).peerMessages, 'stream');
    assert.throws(() => transportOptions({ peerMessages: 'udp' as PeerMessages }), /peerMessages must be "stream" or "unary"/);
    assert.throws(() => transportOptions({ peerQueueBytes: 1.5 }), /peerQueueBytes must be a positive integer/);
    assert.throws(() => transportOptions({ maxPeerStreams: 0 }), /maxPeerStreams must be a positive/);
    assert.throws(() => transportOptions({ peerControlFrameBytes: 0 }), /peerControlFrameBytes must be a positive/);
    assert.throws(() => transportOptions({ peerControlQueueBytes: 2.5 }), /peerControlQueueBytes must be a positive integer/);
  });
});
