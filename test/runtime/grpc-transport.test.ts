import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { Logger } from '../../src/env/logger.js';
import { silentLogger } from '../../src/env/logger.js';
import { type AnswerChannel, type CallFailure, type ClientTransport, ReturnAddress, type Transport } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { Fields } from '../../src/env/validate.js';
import type { TransportOptions } from '../../src/options.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import type { PaxosMessage } from '../../src/paxos/messages.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { type Ping, echoCallCodec, maxEchoTextLength } from '../conformance/echo-codec.js';
import { type TransportHarness, transportConformance } from '../conformance/transport.suite.js';

/** A port free a moment ago on loopback. Another process may take it before we bind: callers retry. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The cluster every test node belongs to unless a test says otherwise. */
const cluster = 'test-cluster';

interface NodeConfig {
  readonly cluster?: string;
  readonly logger?: Logger;
  readonly options?: Partial<TransportOptions>;
  /** Reuse this address (a restart); otherwise pick a free loopback port. */
  readonly self?: NodeId;
}

/** Starts a transport, retrying on bind failure (a free port can be taken between probe and bind). */
async function startNode(config: NodeConfig = {}): Promise<GrpcTransport> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    const self = config.self ?? `127.0.0.1:${await freePort()}`;
    try {
      return await GrpcTransport.listen({
        self,
        cluster: config.cluster ?? cluster,
        logger: config.logger ?? silentLogger,
        options: config.options,
      });
    } catch (err) {
      lastError = err;
      await sleep(50);
    }
  }
  throw lastError;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` in real time. */
async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() >= deadline) return false;
    await sleep(5);
  }
  return true;
}

function grpcHarness(): TransportHarness {
  const nodes = new Map<Transport, GrpcTransport>();
  const clients: ClientTransport[] = [];
  const grpcNode = (t: Transport): GrpcTransport => {
    const node = nodes.get(t);
    assert.ok(node !== undefined, 'not a node of this harness');
    return node;
  };
  return {
    async node() {
      const node = await startNode();
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

transportConformance('gRPC over loopback', async () => grpcHarness());

// ---------------------------------------------------------------------------------------------
// gRPC-specific behaviour: what a peer that speaks the wire format directly sees.

interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

/** A Logger that keeps every line, child bindings merged into the fields. */
function capturingLogger(lines: LogLine[] = [], bindings: object = {}): Logger & { readonly lines: LogLine[] } {
  const at =
    (level: LogLine['level']) =>
    (fields: object, msg: string): void => {
      lines.push({ level, fields: { ...bindings, ...fields }, msg });
    };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => capturingLogger(lines, { ...bindings, ...more }),
  };
}

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
        { cluster, ...envelope },
        { deadline: Date.now() + 5000 },
        (err) => resolve(err === null ? { code: grpc.status.OK, details: '' } : { code: err.code, details: err.details }),
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

const statusName = (code: grpc.status): string => grpc.status[code] ?? String(code);

describe('GrpcTransport', { timeout: 60_000 }, () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function node(config: NodeConfig = {}): Promise<GrpcTransport> {
    const t = await startNode(config);
    cleanup.push(() => t.close());
    return t;
  }

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

// ---------------------------------------------------------------------------------------------
// Request/response services over gRPC: GrpcTransport.serve, GrpcClientTransport, and connect.

const echoCall = serviceDefinition(echoCallCodec.service)['Call'] as MethodDefinition<Fields, Fields, Fields, Fields>;

/** Calls the EchoCall service with a hand-made request, bypassing every check of the client transport. */
class RawCaller {
  readonly #client: grpc.Client;

  constructor(target: NodeId) {
    this.#client = new grpc.Client(target, grpc.credentials.createInsecure());
  }

  /** Sends `request` in `cluster` unless it names its own (`cluster: undefined`: none); resolves to the status. */
  call(request: Fields): Promise<{ code: grpc.status; details: string }> {
    return new Promise((resolve) => {
      this.#client.makeUnaryRequest(
        echoCall.path,
        echoCall.requestSerialize,
        echoCall.responseDeserialize,
        { cluster, ...request },
        { deadline: Date.now() + 5000 },
        (err) => resolve(err === null ? { code: grpc.status.OK, details: '' } : { code: err.code, details: err.details }),
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

/** A served echo service that holds every request until the test answers it. */
interface HeldCalls {
  readonly waiting: Array<{ readonly from: ReturnAddress; readonly req: Ping }>;
  /** Answers the oldest waiting call (with a pong) and forgets it. */
  answerOldest(): void;
  readonly channel: AnswerChannel<Ping>;
}

function holdCalls(server: GrpcTransport): HeldCalls {
  const waiting: Array<{ from: ReturnAddress; req: Ping }> = [];
  const channel = server.serve(echoCallCodec, (from, req) => waiting.push({ from, req }));
  return {
    waiting,
    channel,
    answerOldest() {
      const call = waiting.shift();
      assert.ok(call !== undefined, 'no call waits');
      channel.answer(call.from, { n: call.req.n, text: `pong ${call.req.text}` });
    },
  };
}

/** Serves echo, answering every request at once. */
function serveEcho(server: GrpcTransport): void {
  const channel = server.serve(echoCallCodec, (from, req) => channel.answer(from, { n: req.n, text: `pong ${req.text}` }));
}

/** Asserts that a reported failure is of `kind`, with a detail matching `detail`. */
function expectFailure(reported: { readonly failure: CallFailure }, kind: CallFailure['kind'], detail: RegExp): void {
  assert.equal(reported.failure.kind, kind, JSON.stringify(reported.failure));
  assert.match(reported.failure.detail, detail);
}

/** What one client channel saw. */
function callLog(): {
  readonly got: Array<{ server: NodeId; answer: Ping }>;
  readonly failed: Array<{ server: NodeId; failure: CallFailure }>;
  readonly receive: (server: NodeId, answer: Ping) => void;
  readonly report: (server: NodeId, failure: CallFailure) => void;
} {
  const got: Array<{ server: NodeId; answer: Ping }> = [];
  const failed: Array<{ server: NodeId; failure: CallFailure }> = [];
  return {
    got,
    failed,
    receive: (server, answer) => got.push({ server, answer }),
    report: (server, failure) => failed.push({ server, failure }),
  };
}

describe('GrpcTransport.serve and GrpcClientTransport', { timeout: 60_000 }, () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function node(config: NodeConfig = {}): Promise<GrpcTransport> {
    const t = await startNode(config);
    cleanup.push(() => t.close());
    return t;
  }

  function client(config: { cluster?: string; logger?: Logger; options?: Partial<TransportOptions> } = {}): GrpcClientTransport {
    const c = new GrpcClientTransport({
      cluster: config.cluster ?? cluster,
      logger: config.logger ?? silentLogger,
      options: config.options,
    });
    cleanup.push(() => c.close());
    return c;
  }

  function rawCaller(target: NodeId): RawCaller {
    const caller = new RawCaller(target);
    cleanup.push(() => caller.close());
    return caller;
  }

  test('every call gets a return address of its own, labelled call <n>, and an answer to another object is dropped', async () => {
    const server = await node();
    const held = holdCalls(server);
    const log = callLog();
    const calls = client().connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'a' });
    calls.send(server.self, { n: 2, text: 'b' });
    assert.ok(await until(() => held.waiting.length === 2, 5000));
    for (const { from } of held.waiting) {
      assert.ok(from instanceof ReturnAddress);
      assert.match(from.label, /^call \d+$/);
      assert.equal(JSON.stringify({ from }), JSON.stringify({ from: from.label }), 'logs show the label');
    }
    assert.notEqual(held.waiting[0]?.from, held.waiting[1]?.from);
    // An address with the same label is another address: it reaches no call.
    held.channel.answer(new ReturnAddress(held.waiting[0]!.from.label), { n: 9, text: 'forged' });
    await sleep(200);
    assert.deepEqual(log.got, []);
    assert.equal(server.pendingCalls, 2);
  });

  test('a client call of another cluster is refused with FAILED_PRECONDITION naming both clusters, reported as wrong-cluster with the server\'s cluster', async () => {
    const logger = capturingLogger();
    const server = await node({ cluster: 'beta', logger });
    const received: Ping[] = [];
    server.serve(echoCallCodec, (_from, req) => received.push(req));
    const log = callLog();
    const calls = client({ cluster: 'alpha' }).connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'hello' });
    assert.ok(await until(() => log.failed.length === 1, 5000), 'no failure report');
    const { server: reportedServer, failure } = log.failed[0]!;
    assert.equal(reportedServer, server.self);
    assert.ok(failure.kind === 'wrong-cluster', JSON.stringify(failure));
    assert.deepEqual([failure.expected, failure.actual], ['alpha', 'beta'], 'the server named its cluster in the metadata');
    assert.match(failure.detail, /^FAILED_PRECONDITION: /);
    assert.ok(failure.detail.includes('"alpha"') && failure.detail.includes('"beta"'), failure.detail);
    const refused = logger.lines.find((l) => l.level === 'warn' && l.msg.includes('another cluster'));
    assert.equal(refused?.fields['senderCluster'], '"alpha"');
    assert.equal(refused?.fields['cluster'], '"beta"');
    assert.equal(refused?.fields['service'], echoCallCodec.service);

    // A caller that sends no cluster name at all.
    const anonymous = await rawCaller(server.self).call({ cluster: undefined, ping: { n: 1, text: 'x' } });
    assert.equal(statusName(anonymous.code), 'FAILED_PRECONDITION');
    assert.match(anonymous.details, /of cluster \(none\) reached .* of cluster "beta"/);
    await sleep(50);
    assert.deepEqual(received, [], 'the receiver was called');
    assert.deepEqual(log.got, []);
  });

  test('a request that fails decodeRequest is refused with INVALID_ARGUMENT naming the field, and the receiver is not called', async () => {
    const logger = capturingLogger();
    const server = await node({ logger });
    const received: Ping[] = [];
    const answer = server.serve(echoCallCodec, (from, req) => {
      received.push(req);
      answer.answer(from, { n: req.n, text: `pong ${req.text}` });
    });
    const log = callLog();
    const calls = client().connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'x'.repeat(maxEchoTextLength + 1) });
    assert.ok(await until(() => log.failed.length === 1, 5000), 'no failure report');
    expectFailure(log.failed[0]!, 'invalid-request', /^INVALID_ARGUMENT: invalid message: ping\.text: /);
    const warn = logger.lines.find((l) => l.level === 'warn' && l.msg.includes('failed validation'));
    assert.equal(warn?.fields['field'], 'ping.text');
    assert.equal(warn?.fields['service'], echoCallCodec.service);

    const noBody = await rawCaller(server.self).call({});
    assert.equal(statusName(noBody.code), 'INVALID_ARGUMENT');
    assert.match(noBody.details, /\bping\b/);
    await sleep(50);
    assert.deepEqual(received, [], 'a refused request reached the receiver');
    assert.equal(server.pendingCalls, 0);

    calls.send(server.self, { n: 2, text: 'fine' });
    assert.ok(await until(() => log.got.length === 1, 5000), 'the server stopped answering');
    assert.deepEqual(log.got, [{ server: server.self, answer: { n: 2, text: 'pong fine' } }]);
  });

  test('an isolated server refuses client calls with UNAVAILABLE until heal(), and a waiting call it answers meanwhile gets UNAVAILABLE', async () => {
    const server = await node();
    const held = holdCalls(server);
    const log = callLog();
    const calls = client().connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'before' });
    assert.ok(await until(() => held.waiting.length === 1, 5000));

    server.isolate();
    calls.send(server.self, { n: 2, text: 'during' });
    assert.ok(await until(() => log.failed.length === 1, 5000), 'a new call was not refused');
    expectFailure(log.failed[0]!, 'unreachable', /^UNAVAILABLE: .*isolated/);
    assert.equal(held.waiting.length, 1, 'the isolated server handed a call on');
    held.answerOldest(); // the answer cannot leave an isolated node
    assert.ok(await until(() => log.failed.length === 2, 5000), 'the waiting call was not refused');
    expectFailure(log.failed[1]!, 'unreachable', /^UNAVAILABLE: .*isolated/);
    assert.deepEqual(log.got, []);

    server.heal();
    calls.send(server.self, { n: 3, text: 'after' });
    assert.ok(await until(() => held.waiting.length === 1, 5000), 'the healed server did not take the call');
    held.answerOldest();
    assert.ok(await until(() => log.got.length === 1, 5000));
    assert.deepEqual(log.got, [{ server: server.self, answer: { n: 3, text: 'pong after' } }]);
    assert.equal(log.failed.length, 2);
  });

  test('at most maxPendingCalls calls wait for an answer; one more is refused at once with RESOURCE_EXHAUSTED', async () => {
    const logger = capturingLogger();
    const server = await node({ logger, options: { maxPendingCalls: 2 } });
    const held = holdCalls(server);
    const log = callLog();
    const calls = client().connect(echoCallCodec, log.receive, log.report);
    for (let n = 1; n <= 3; n++) calls.send(server.self, { n, text: `call ${n}` });
    assert.ok(await until(() => held.waiting.length === 2 && log.failed.length === 1, 5000), 'a third call was not refused');
    expectFailure(log.failed[0]!, 'overloaded', /^RESOURCE_EXHAUSTED: .*maxPendingCalls 2/);
    assert.equal(server.pendingCalls, 2);
    assert.ok(logger.lines.some((l) => l.level === 'warn' && l.fields['maxPendingCalls'] === 2));

    held.answerOldest();
    assert.ok(await until(() => log.got.length === 1, 5000));
    assert.equal(server.pendingCalls, 1);
    calls.send(server.self, { n: 4, text: 'call 4' }); // room again
    assert.ok(await until(() => held.waiting.length === 2, 5000), 'a call was refused below the limit');
    held.answerOldest();
    held.answerOldest();
    assert.ok(await until(() => log.got.length === 3, 5000));
    assert.equal(server.pendingCalls, 0);
    assert.equal(log.failed.length, 1);
  });

  test("an answer after the client's deadline is dropped without error, and the server forgets the call", async () => {
    const logger = capturingLogger();
    const server = await node({ logger });
    const held = holdCalls(server);
    const log = callLog();
    const calls = client({ options: { callDeadlineMs: 200 } }).connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'slow' });
    assert.ok(await until(() => held.waiting.length === 1, 5000));
    assert.equal(server.pendingCalls, 1);
    assert.ok(await until(() => log.failed.length === 1, 5000), 'the deadline did not fire');
    expectFailure(log.failed[0]!, 'timeout', /^DEADLINE_EXCEEDED: /);
    assert.ok(await until(() => server.pendingCalls === 0, 5000), 'the server still holds the expired call');

    held.answerOldest();
    await sleep(200);
    assert.deepEqual(log.got, [], 'a late answer was delivered');
    assert.equal(log.failed.length, 1);
    assert.ok(logger.lines.some((l) => l.level === 'debug' && l.msg.startsWith('answer dropped')));
    assert.deepEqual(logger.lines.filter((l) => l.level === 'warn' || l.level === 'error'), []);
  });

  test('the client transport keeps at most maxPeerClients connections and closes the least recently used first', async () => {
    const logger = capturingLogger();
    const c = client({ logger, options: { maxPeerClients: 2 } });
    const [s1, s2, s3] = [await node(), await node(), await node()];
    for (const s of [s1, s2, s3]) serveEcho(s);
    const log = callLog();
    const calls = c.connect(echoCallCodec, log.receive, log.report);
    const evicted = (): unknown[] => logger.lines.filter((l) => l.msg.includes('evicted')).map((l) => l.fields['peer']);
    const callAndWait = async (server: GrpcTransport): Promise<void> => {
      const before = log.got.length;
      calls.send(server.self, { n: 1, text: 'hi' });
      assert.ok(await until(() => log.got.length === before + 1, 5000), `no answer from ${server.self}`);
      assert.equal(log.got.at(-1)?.server, server.self);
    };

    await callAndWait(s1);
    await callAndWait(s2);
    assert.deepEqual(evicted(), [], 'two servers fit');
    await callAndWait(s3); // s1, the least recently used, goes
    assert.deepEqual(evicted(), [s1.self]);
    await callAndWait(s2); // s2 is now the most recently used, s3 the least
    await callAndWait(s1); // s1 is dialled again, and s3 goes
    assert.deepEqual(evicted(), [s1.self, s3.self]);
    assert.equal(c.connections, 2);
    assert.deepEqual(log.failed, []);
  });

  test('a call to an address nobody listens on is reported unreachable', async () => {
    const gone = await node();
    const goneId = gone.self;
    await gone.close();
    const log = callLog();
    const calls = client().connect(echoCallCodec, log.receive, log.report);
    calls.send(goneId, { n: 1, text: 'hello?' });
    assert.ok(await until(() => log.failed.length === 1, 5000), 'no failure report');
    assert.equal(log.failed[0]!.server, goneId);
    expectFailure(log.failed[0]!, 'unreachable', /^UNAVAILABLE: /);
  });

  test('a call to a node that does not serve the service is reported as unimplemented', async () => {
    const server = await node();
    const log = callLog();
    client().connect(echoCallCodec, log.receive, log.report).send(server.self, { n: 1, text: 'hi' });
    assert.ok(await until(() => log.failed.length === 1, 5000));
    expectFailure(log.failed[0]!, 'unimplemented', /^UNIMPLEMENTED: /);
  });

  test('an answer that fails decodeAnswer is reported as invalid-answer and logged', async () => {
    const server = await node();
    // A server whose answers lack the pong (its encoder is broken).
    const broken = { ...echoCallCodec, encodeAnswer: () => ({}) };
    const answer = server.serve(broken, (from, req) => answer.answer(from, req));
    const logger = capturingLogger();
    const log = callLog();
    client({ logger }).connect(echoCallCodec, log.receive, log.report).send(server.self, { n: 1, text: 'hi' });
    assert.ok(await until(() => log.failed.length === 1, 5000));
    expectFailure(log.failed[0]!, 'invalid-answer', /^invalid message: pong: /);
    assert.deepEqual(log.got, []);
    const warn = logger.lines.find((l) => l.level === 'warn');
    assert.equal(warn?.fields['field'], 'pong');
    assert.equal(warn?.fields['server'], server.self);
  });

  test('a receiver that throws gets its call answered INTERNAL, and the server keeps serving', async () => {
    const logger = capturingLogger();
    const server = await node({ logger });
    let calls = 0;
    const answer = server.serve(echoCallCodec, (from, req) => {
      if (++calls === 1) throw new Error('receiver bug');
      answer.answer(from, req);
    });
    const log = callLog();
    const channel = client().connect(echoCallCodec, log.receive, log.report);
    channel.send(server.self, { n: 1, text: 'first' });
    assert.ok(await until(() => log.failed.length === 1, 5000));
    expectFailure(log.failed[0]!, 'internal', /^INTERNAL: /);
    assert.ok(logger.lines.some((l) => l.level === 'error' && l.msg.includes('receiver threw')));
    assert.equal(server.pendingCalls, 0);
    channel.send(server.self, { n: 2, text: 'second' });
    assert.ok(await until(() => log.got.length === 1, 5000), 'the server stopped serving');
  });

  test('closing a server answers its waiting calls UNAVAILABLE at once', async () => {
    const server = await node();
    const held = holdCalls(server);
    const log = callLog();
    const calls = client().connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'a' });
    calls.send(server.self, { n: 2, text: 'b' });
    assert.ok(await until(() => held.waiting.length === 2, 5000));
    const started = performance.now();
    await server.close();
    assert.ok(await until(() => log.failed.length === 2, 5000));
    for (const f of log.failed) expectFailure(f, 'unreachable', /^UNAVAILABLE: /);
    assert.ok(performance.now() - started < 400, 'close waited for the calls (closeGraceMs)');
    held.answerOldest(); // after close: nothing, and no throw
    assert.equal(server.pendingCalls, 0);
  });

  test('a node calls another node through connect; partitions between nodes do not apply to client calls, but an isolated node cannot call', async () => {
    const [a, b] = [await node(), await node()];
    serveEcho(b);
    const log = callLog();
    const calls = a.connect(echoCallCodec, log.receive, log.report);
    a.blockPeers([b.self]);
    b.blockPeers([a.self]);
    calls.send(b.self, { n: 1, text: 'across a partition' });
    assert.ok(await until(() => log.got.length === 1, 5000), 'the call was not answered');
    assert.deepEqual(log.got[0], { server: b.self, answer: { n: 1, text: 'pong across a partition' } });

    a.isolate();
    calls.send(b.self, { n: 2, text: 'isolated' });
    assert.equal(log.failed.length, 0, 'failed was called inside send');
    assert.ok(await until(() => log.failed.length === 1, 5000));
    expectFailure(log.failed[0]!, 'unreachable', /^\S+ is isolated$/);
    a.heal();
    calls.send(b.self, { n: 3, text: 'healed' });
    assert.ok(await until(() => log.got.length === 2, 5000));
  });

  test('close() of a client transport is idempotent; in-flight calls are cancelled, and nothing is sent or reported after it', async () => {
    const server = await node();
    const held = holdCalls(server);
    const c = client();
    const log = callLog();
    const calls = c.connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'in flight' });
    assert.ok(await until(() => held.waiting.length === 1, 5000));
    await Promise.all([c.close(), c.close()]);
    await c.close();
    assert.ok(await until(() => server.pendingCalls === 0, 5000), 'the in-flight call was not cancelled');
    calls.send(server.self, { n: 2, text: 'after close' });
    held.answerOldest();
    await sleep(200);
    assert.equal(held.waiting.length, 0, 'a call went out after close');
    assert.deepEqual(log.got, []);
    assert.deepEqual(log.failed, []);
    assert.throws(() => c.connect(echoCallCodec, () => {}), /closed/);
  });

  test('serving a service twice, or one without a unary Call method, is a programmer error', async () => {
    const a = await node();
    a.serve(echoCallCodec, () => {});
    assert.throws(() => a.serve(echoCallCodec, () => {}), /served twice/);
    assert.throws(() => a.serve({ ...echoCallCodec, service: paxosCodec.service }, () => {}), /no unary Call method/);
  });

  test('maxPendingCalls must be a positive integer, and a client transport needs a cluster name', async () => {
    for (const maxPendingCalls of [0, 2.5]) {
      await assert.rejects(
        GrpcTransport.listen({ self: '127.0.0.1:0', cluster, logger: silentLogger, options: { maxPendingCalls } }),
        /maxPendingCalls must be a positive/,
      );
    }
    assert.throws(() => new GrpcClientTransport({ cluster: '', logger: silentLogger }), /cluster must be a non-empty string/);
  });
});
