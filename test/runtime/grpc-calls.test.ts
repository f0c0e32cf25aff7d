// Request/response services over gRPC: GrpcTransport.serve, GrpcClientTransport, and connect.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Logger } from '../../src/env/logger.js';
import { silentLogger } from '../../src/env/logger.js';
import { ReturnAddress } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import type { TransportOptions } from '../../src/options.js';
import { paxosCodec } from '../../src/paxos/codec.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { GrpcTransport } from '../../src/runtime/grpc-transport.js';
import { type Ping, echoCallCodec, maxEchoTextLength } from '../conformance/echo-codec.js';
import { capturingLogger, cluster, sleep, statusName, until, closedAfterBlock } from './grpc-support.js';
import { RawCaller, callLog, callWires, expectFailure, holdCalls, serveEcho, twoHeldCalls } from './grpc-call-support.js';

for (const callWire of callWires) {
  describe(`GrpcTransport.serve and GrpcClientTransport (${callWire} calls)`, { timeout: 60_000 }, () => {
    const { node: nodeOf, cleanup } = closedAfterBlock();
    // Every node and client of this block calls over `callWire` (nodes too: they call through `connect`).
    const node = (config: Parameters<typeof nodeOf>[0] = {}): Promise<GrpcTransport> => nodeOf({ ...config, options: { callWire, ...config.options } });

    function client(config: { cluster?: string; logger?: Logger; options?: Partial<TransportOptions> } = {}): GrpcClientTransport {
      const c = new GrpcClientTransport({
        cluster: config.cluster ?? cluster,
        logger: config.logger ?? silentLogger,
        options: { callWire, ...config.options },
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
      const { held, log } = await twoHeldCalls(server, client());
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

    test(callWire === 'unary'
      ? 'an isolated server refuses client calls with UNAVAILABLE until heal(), and a waiting call it answers meanwhile gets UNAVAILABLE'
      : 'isolating a server ends its call streams UNAVAILABLE at once, failing the waiting calls unreachable; after heal() a new stream is served', async () => {
      const server = await node();
      const held = holdCalls(server);
      const log = callLog();
      const calls = client().connect(echoCallCodec, log.receive, log.report);
      calls.send(server.self, { n: 1, text: 'before' });
      assert.ok(await until(() => held.waiting.length === 1, 5000));

      server.isolate();
      if (callWire === 'stream') {
        // The stream ends at once: the waiting call fails without waiting for its answer.
        assert.ok(await until(() => log.failed.length === 1, 5000), 'the waiting call did not fail');
        expectFailure(log.failed[0]!, 'unreachable', /^UNAVAILABLE: .*isolated/);
        assert.equal(server.pendingCalls, 0, 'the isolated server still holds the call');
      }
      calls.send(server.self, { n: 2, text: 'during' });
      assert.ok(await until(() => log.failed.length === (callWire === 'stream' ? 2 : 1), 5000), 'a new call was not refused');
      expectFailure(log.failed.at(-1)!, 'unreachable', /^UNAVAILABLE: /);
      assert.equal(held.waiting.length, 1, 'the isolated server handed a call on');
      held.answerOldest(); // the answer cannot leave an isolated node
      if (callWire === 'unary') {
        assert.ok(await until(() => log.failed.length === 2, 5000), 'the waiting call was not refused');
        expectFailure(log.failed[1]!, 'unreachable', /^UNAVAILABLE: .*isolated/);
      }
      await sleep(100);
      assert.deepEqual(log.got, []);
      assert.equal(log.failed.length, 2);

      server.heal();
      // A refused stream is reopened after callStreamRetryBaseMs: a client asks again, as ClientCore does.
      const taking = (): boolean => held.waiting.length > 0;
      for (let n = 3; !taking() && n < 50; n++) {
        calls.send(server.self, { n, text: 'after' });
        await until(taking, 100);
      }
      assert.equal(held.waiting.length, 1, 'the healed server did not take a call');
      const taken = held.waiting[0]!.req.n;
      held.answerOldest();
      assert.ok(await until(() => log.got.length === 1, 5000));
      assert.deepEqual(log.got, [{ server: server.self, answer: { n: taken, text: 'pong after' } }]);
      if (callWire === 'unary') assert.equal(taken, 3, 'a unary call after heal() is served at once');
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
      const { held, log } = await twoHeldCalls(server, client());
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
}
