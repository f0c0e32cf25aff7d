import assert from 'node:assert/strict';
import { type TestContext, describe, test } from 'node:test';
import type { CallFailure, ClientTransport, ReturnAddress, Transport } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import type { PaxosMessage } from '../../src/paxos/messages.js';
import { type Ping, echoCallCodec, echoCodec } from './echo-codec.js';

/**
 * What the shared transport tests need from one implementation (gRPC, the simulator's network).
 * Every test makes a fresh harness and disposes it, pass or fail.
 */
export interface TransportHarness {
  /** Creates a node's transport at a fresh address (the harness picks addresses). */
  node(): Promise<Transport>;
  /**
   * Creates a client's transport, which calls the request/response services that nodes `serve`.
   * A harness without it skips the request/response tests.
   */
  client?(): Promise<ClientTransport>;
  /**
   * Takes a node down as a crash would (its process and address are gone). Default:
   * `node.close()`. A simulator whose `close()` does not stop a node maps this to its crash.
   */
  down?(node: Transport): Promise<void>;
  /** Lets time pass until `condition()` holds or `timeoutMs` (real or virtual) elapses; resolves to whether it held. */
  until(condition: () => boolean, timeoutMs: number): Promise<boolean>;
  /** Optional fault hooks; a harness that cannot do one leaves it undefined (skip those tests). */
  partition?(a: Transport, b: Transport): void;
  heal?(): void;
  dispose(): Promise<void>;
}

/** How long a message that should arrive may take. Generous: loaded CI machines stall. */
const arriveMs = 5000;
/** How long a test watches for a message that must not arrive. */
const quietMs = 300;

interface Received<M> {
  readonly from: NodeId;
  readonly msg: M;
}

/** A receiver that records what it was handed. */
function inbox<M>(): { readonly got: Received<M>[]; readonly receive: (from: NodeId, msg: M) => void } {
  const got: Received<M>[] = [];
  return { got, receive: (from, msg) => got.push({ from, msg }) };
}

/** One message of every Paxos kind, with nested and optional fields set and unset. */
function samplePaxosMessages(a: NodeId, b: NodeId): PaxosMessage[] {
  const n = { round: 7, node: a };
  return [
    { kind: 'prepare', instance: 2, n },
    { kind: 'promise', instance: 2, n, accepted: null },
    { kind: 'promise', instance: 3, n, accepted: { n: { round: 5, node: b }, value: [a, b] } },
    { kind: 'accept', instance: 2, n, value: [b, a] },
    { kind: 'accepted', instance: 2, n },
    { kind: 'reject', instance: 2, n, promised: { round: 9, node: b } },
    { kind: 'decided', instance: 2, value: [a] },
    { kind: 'known', instance: 12 },
    { kind: 'fetch', from: 4 },
    { kind: 'decisions', first: 4, values: [[a], [a, b], [b]] },
  ];
}

/** A client channel's record of answers and failure reports. */
function answers(): {
  readonly got: Received<Ping>[];
  readonly unreachable: Array<{ readonly server: NodeId; readonly failure: CallFailure }>;
  readonly receive: (server: NodeId, answer: Ping) => void;
  readonly report: (server: NodeId, failure: CallFailure) => void;
} {
  const got: Received<Ping>[] = [];
  const unreachable: Array<{ server: NodeId; failure: CallFailure }> = [];
  return {
    got,
    unreachable,
    receive: (from, msg) => got.push({ from, msg }),
    report: (server, failure) => unreachable.push({ server, failure }),
  };
}

/** Serves the echo service on `node`: every request is answered at once with a pong naming the server. */
function serveEcho(node: Transport): void {
  const channel = node.serve(echoCallCodec, (from, req) => channel.answer(from, pong(node.self, req)));
}

function pong(server: NodeId, req: Ping): Ping {
  return { n: req.n, text: `${server} pong ${req.text}` };
}

/** Registers the transport conformance tests for one implementation under `name`. */
export function transportConformance(name: string, makeHarness: () => Promise<TransportHarness>): void {
  /** Runs `body` with a fresh harness and disposes of it afterwards, pass or fail. */
  async function withHarness(body: (h: TransportHarness) => Promise<void>): Promise<void> {
    const h = await makeHarness();
    try {
      await body(h);
    } finally {
      await h.dispose();
    }
  }

  /** Like `withHarness`, for the request/response tests: skipped when the harness has no clients. */
  async function withClients(
    t: TestContext,
    body: (h: TransportHarness & { client(): Promise<ClientTransport> }) => Promise<void>,
  ): Promise<void> {
    const h = await makeHarness();
    try {
      if (h.client === undefined) {
        t.skip('the harness has no client transport');
        return;
      }
      await body(h as TransportHarness & { client(): Promise<ClientTransport> });
    } finally {
      await h.dispose();
    }
  }

  describe(`transport conformance: ${name}`, { timeout: 60_000 }, () => {
    test("a message arrives with the sender's id and equal content", () =>
      withHarness(async (h) => {
        const [a, b] = [await h.node(), await h.node()];
        const fromA = a.open(paxosCodec, () => assert.fail('a received a message nobody sent to it'));
        const atB = inbox<PaxosMessage>();
        b.open(paxosCodec, atB.receive);
        const sent = samplePaxosMessages(a.self, b.self);
        for (const m of sent) fromA.send(b.self, m);
        assert.ok(await h.until(() => atB.got.length >= sent.length, arriveMs), `${atB.got.length} of ${sent.length} arrived`);
        assert.ok(atB.got.every((r) => r.from === a.self), 'every message carries the sender id');
        // Order is not promised; compare as multisets.
        const key = (m: PaxosMessage): string => JSON.stringify(m);
        assert.deepEqual(atB.got.map((r) => key(r.msg)).sort(), sent.map(key).sort());
      }));

    test('a message to oneself arrives, not synchronously', () =>
      withHarness(async (h) => {
        const a = await h.node();
        const atA = inbox<PaxosMessage>();
        const channel = a.open(paxosCodec, atA.receive);
        const sent = samplePaxosMessages(a.self, 'peer:1');
        for (const m of sent) channel.send(a.self, m);
        assert.equal(atA.got.length, 0, 'the receiver was called inside send');
        assert.ok(await h.until(() => atA.got.length >= sent.length, arriveMs), `${atA.got.length} of ${sent.length} arrived`);
        assert.ok(atA.got.every((r) => r.from === a.self));
        const key = (m: PaxosMessage): string => JSON.stringify(m);
        assert.deepEqual(atA.got.map((r) => key(r.msg)).sort(), sent.map(key).sort());
      }));

    test('sending to an address nobody listens on neither throws nor blocks, and later messages to live peers still arrive', () =>
      withHarness(async (h) => {
        const [a, b, gone] = [await h.node(), await h.node(), await h.node()];
        const goneId = gone.self;
        await gone.close(); // an address that was a node and is no more
        const channel = a.open(paxosCodec, () => {});
        const atB = inbox<PaxosMessage>();
        b.open(paxosCodec, atB.receive);
        const prepare: PaxosMessage = { kind: 'prepare', instance: 2, n: { round: 1, node: a.self } };
        const started = performance.now();
        for (let i = 0; i < 20; i++) channel.send(goneId, prepare);
        // Sends return at once: the cores call send from inside their handlers.
        assert.ok(performance.now() - started < 250, `send blocked for ${performance.now() - started} ms`);
        channel.send(b.self, prepare);
        assert.ok(await h.until(() => atB.got.length === 1, arriveMs), 'the message to the live peer did not arrive');
        assert.deepEqual(atB.got[0], { from: a.self, msg: prepare });
      }));

    test('two channels on one transport keep their messages apart', () =>
      withHarness(async (h) => {
        const [a, b] = [await h.node(), await h.node()];
        const paxosA = a.open(paxosCodec, () => {});
        const echoA = a.open(echoCodec, () => {});
        const paxosAtB = inbox<PaxosMessage>();
        const echoAtB = inbox<Ping>();
        b.open(paxosCodec, paxosAtB.receive);
        b.open(echoCodec, echoAtB.receive);
        const count = 20;
        for (let i = 1; i <= count; i++) {
          paxosA.send(b.self, { kind: 'known', instance: i });
          echoA.send(b.self, { n: i, text: `ping ${i}` });
        }
        const all = (): boolean => paxosAtB.got.length >= count && echoAtB.got.length >= count;
        assert.ok(await h.until(all, arriveMs), `${paxosAtB.got.length} paxos, ${echoAtB.got.length} echo of ${count} each`);
        assert.ok(paxosAtB.got.every((r) => r.msg.kind === 'known'), 'a ping reached the Paxos receiver');
        assert.ok(echoAtB.got.every((r) => typeof r.msg.text === 'string' && r.msg.text === `ping ${r.msg.n}`));
        assert.equal(paxosAtB.got.length, count);
        assert.equal(echoAtB.got.length, count);
      }));

    test('many messages from one peer all arrive', () =>
      withHarness(async (h) => {
        const [a, b] = [await h.node(), await h.node()];
        const channel = a.open(paxosCodec, () => {});
        const atB = inbox<PaxosMessage>();
        b.open(paxosCodec, atB.receive);
        const count = 500;
        for (let i = 1; i <= count; i++) channel.send(b.self, { kind: 'decided', instance: i, value: [a.self, b.self] });
        assert.ok(await h.until(() => atB.got.length >= count, arriveMs * 2), `${atB.got.length} of ${count} arrived`);
        const instances = new Set(atB.got.map((r) => (r.msg.kind === 'decided' ? r.msg.instance : -1)));
        assert.equal(instances.size, count, 'a message was duplicated or mangled');
        for (let i = 1; i <= count; i++) assert.ok(instances.has(i), `instance ${i} missing`);
      }));

    test('a partitioned pair exchanges nothing until healed, then does', async (t) => {
      const h = await makeHarness();
      try {
        if (h.partition === undefined || h.heal === undefined) {
          t.skip('the harness cannot partition');
          return;
        }
        const [a, b] = [await h.node(), await h.node()];
        const atA = inbox<PaxosMessage>();
        const atB = inbox<PaxosMessage>();
        const fromA = a.open(paxosCodec, atA.receive);
        const fromB = b.open(paxosCodec, atB.receive);
        h.partition(a, b);
        // Instances 1..10 are sent during the partition, 11 after healing.
        for (let i = 1; i <= 10; i++) {
          fromA.send(b.self, { kind: 'known', instance: i });
          fromB.send(a.self, { kind: 'known', instance: i });
        }
        const any = (): boolean => atA.got.length > 0 || atB.got.length > 0;
        assert.equal(await h.until(any, quietMs), false, 'a message crossed the partition');
        h.heal();
        // The first messages after healing may still be lost (a connection is being set up):
        // resend until one arrives each way, as the protocols do.
        const healed = (): boolean => atA.got.length > 0 && atB.got.length > 0;
        for (let tries = 0; tries < arriveMs / 100 && !healed(); tries++) {
          fromA.send(b.self, { kind: 'known', instance: 11 });
          fromB.send(a.self, { kind: 'known', instance: 11 });
          await h.until(healed, 100);
        }
        assert.ok(healed(), 'no message crossed after healing');
        const instances = [...atA.got, ...atB.got].map((r) => (r.msg.kind === 'known' ? r.msg.instance : -1));
        assert.ok(
          instances.every((i) => i === 11),
          `messages sent during the partition arrived later: ${instances.join(' ')}`,
        );
      } finally {
        await h.dispose();
      }
    });

    // ---- request/response services (serve / connect) ----------------------------------------

    test('an answer comes back to the client that asked, attributed to the server it asked', (t) =>
      withClients(t, async (h) => {
        const [s1, s2] = [await h.node(), await h.node()];
        serveEcho(s1);
        serveEcho(s2);
        const client = await h.client();
        const at = answers();
        const calls = client.connect(echoCallCodec, at.receive, at.report);
        const count = 5;
        for (let i = 1; i <= count; i++) {
          calls.send(s1.self, { n: i, text: `to s1 ${i}` });
          calls.send(s2.self, { n: i, text: `to s2 ${i}` });
        }
        assert.equal(at.got.length, 0, 'an answer was delivered inside send');
        assert.ok(await h.until(() => at.got.length >= 2 * count, arriveMs), `${at.got.length} of ${2 * count} answers`);
        assert.deepEqual(at.unreachable, []);
        const key = (r: Received<Ping>): string => JSON.stringify([r.from, r.msg]);
        const expected: Received<Ping>[] = [];
        for (let i = 1; i <= count; i++) {
          expected.push({ from: s1.self, msg: pong(s1.self, { n: i, text: `to s1 ${i}` }) });
          expected.push({ from: s2.self, msg: pong(s2.self, { n: i, text: `to s2 ${i}` }) });
        }
        // Order is not promised; compare as multisets.
        assert.deepEqual(at.got.map(key).sort(), expected.map(key).sort());
      }));

    test("two clients' calls to one server are not mixed up, even when answered out of order", (t) =>
      withClients(t, async (h) => {
        const server = await h.node();
        const waiting: Array<{ readonly from: ReturnAddress; readonly req: Ping }> = [];
        const answer = server.serve(echoCallCodec, (from, req) => waiting.push({ from, req }));
        const [c1, c2] = [await h.client(), await h.client()];
        const [at1, at2] = [answers(), answers()];
        const calls1 = c1.connect(echoCallCodec, at1.receive, at1.report);
        const calls2 = c2.connect(echoCallCodec, at2.receive, at2.report);
        const count = 10;
        for (let i = 1; i <= count; i++) {
          calls1.send(server.self, { n: i, text: `c1 ${i}` });
          calls2.send(server.self, { n: i, text: `c2 ${i}` });
        }
        assert.ok(await h.until(() => waiting.length >= 2 * count, arriveMs), `${waiting.length} of ${2 * count} requests arrived`);
        // Answered last first: answers must follow return addresses, not arrival order.
        for (const { from, req } of [...waiting].reverse()) answer.answer(from, pong(server.self, req));
        const all = (): boolean => at1.got.length >= count && at2.got.length >= count;
        assert.ok(await h.until(all, arriveMs), `${at1.got.length} and ${at2.got.length} of ${count} answers`);
        for (const [name, at] of [['c1', at1], ['c2', at2]] as const) {
          const texts = at.got.map((r) => r.msg.text).sort();
          const expected = Array.from({ length: count }, (_, i) => pong(server.self, { n: i + 1, text: `${name} ${i + 1}` }).text).sort();
          assert.deepEqual(texts, expected, `${name} got answers to calls it did not make`);
          assert.ok(at.got.every((r) => r.from === server.self));
          assert.deepEqual(at.unreachable, []);
        }
      }));

    test('a request to a server that is down gets no answer (or is reported unreachable), and later calls to live servers are answered', (t) =>
      withClients(t, async (h) => {
        const [live, gone] = [await h.node(), await h.node()];
        serveEcho(live);
        serveEcho(gone);
        const goneId = gone.self;
        await (h.down !== undefined ? h.down(gone) : gone.close());
        const client = await h.client();
        const at = answers();
        const calls = client.connect(echoCallCodec, at.receive, at.report);
        const started = performance.now();
        for (let i = 1; i <= 5; i++) calls.send(goneId, { n: i, text: 'anyone there?' });
        assert.ok(performance.now() - started < 250, `send blocked for ${performance.now() - started} ms`);
        // The contract allows silence (a lost request); a transport that can tell reports it.
        await h.until(() => at.unreachable.length >= 5, quietMs);
        assert.deepEqual(at.got, [], 'a server that is down answered');
        assert.ok(at.unreachable.every((u) => u.server === goneId && u.failure.kind === 'unreachable' && u.failure.detail.length > 0), JSON.stringify(at.unreachable));
        const reported = at.unreachable.length;
        calls.send(live.self, { n: 6, text: 'hello' });
        assert.ok(await h.until(() => at.got.length === 1, arriveMs), 'the live server did not answer');
        assert.deepEqual(at.got[0], { from: live.self, msg: pong(live.self, { n: 6, text: 'hello' }) });
        assert.ok(at.unreachable.length <= 5, 'more unreachable reports than calls');
        assert.ok(at.unreachable.slice(reported).every((u) => u.server === goneId), 'the live server was reported unreachable');
      }));

    test('an answer sent twice to one return address is delivered once', (t) =>
      withClients(t, async (h) => {
        const server = await h.node();
        const addresses: ReturnAddress[] = [];
        const answer = server.serve(echoCallCodec, (from, req) => {
          addresses.push(from);
          answer.answer(from, pong(server.self, req));
          answer.answer(from, { n: req.n, text: 'a second answer' });
        });
        const client = await h.client();
        const at = answers();
        const calls = client.connect(echoCallCodec, at.receive, at.report);
        calls.send(server.self, { n: 1, text: 'once' });
        assert.ok(await h.until(() => at.got.length >= 1, arriveMs), 'no answer');
        // And once more, well after the first answer went out.
        for (const from of addresses) answer.answer(from, { n: 1, text: 'a late answer' });
        await h.until(() => at.got.length > 1, quietMs);
        assert.deepEqual(at.got, [{ from: server.self, msg: pong(server.self, { n: 1, text: 'once' }) }]);
        assert.deepEqual(at.unreachable, []);
      }));
  });
}
