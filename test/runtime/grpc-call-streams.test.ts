// Call streams over real gRPC: many requests of many channels on one stream per server, each
// refused, timed out or failed alone, and the stream's own end, reopening and bounds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { randomInt } from '../../src/env/random.js';
import type { Fields } from '../../src/env/validate.js';
import { nodeServiceCodec } from '../../src/node/status.js';
import type { TransportOptions } from '../../src/options.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { Prng } from '../../tools/sim/prng.js';
import { echoCallCodec } from '../conformance/echo-codec.js';
import { callLog, expectFailure, holdCalls, serveEcho, twoHeldCalls } from './grpc-call-support.js';
import { capturingLogger, cluster, closedAfterBlock, sleep, startNode, until } from './grpc-support.js';

const echoStream = serviceDefinition(echoCallCodec.service)['Stream'] as MethodDefinition<Fields, Fields, Fields, Fields>;

describe('call streams (TransportOptions.callWire stream)', { timeout: 60_000 }, () => {
  const { node, cleanup } = closedAfterBlock();

  function client(options: Partial<TransportOptions> = {}, clusterName = cluster): GrpcClientTransport {
    const c = new GrpcClientTransport({ cluster: clusterName, logger: silent(), options: { callWire: 'stream', ...options } });
    cleanup.push(() => c.close());
    return c;
  }

  test('many requests of several channels share one stream, and each answer reaches its own request even out of order', async () => {
    const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000);
    console.log(`seed ${seed} (SEED=${seed} replays the answering order)`);
    const random = new Prng(seed);
    const server = await node();
    const held = holdCalls(server);
    const c = client();
    const logs = [callLog(), callLog(), callLog(), callLog()];
    const channels = logs.map((log) => c.connect(echoCallCodec, log.receive, log.report));
    const perChannel = 50;
    for (let n = 0; n < perChannel; n++) channels.forEach((ch, i) => ch.send(server.self, { n: i * 1000 + n, text: `c${i}` }));
    assert.ok(await until(() => held.waiting.length === 4 * perChannel, 10_000), `${held.waiting.length} requests arrived`);
    assert.equal(server.callStreams, 1, 'the requests did not share one stream');
    // Answer in a seeded random order.
    while (held.waiting.length > 0) {
      const [call] = held.waiting.splice(randomInt(random, held.waiting.length), 1);
      held.channel.answer(call!.from, { n: call!.req.n, text: `pong ${call!.req.text}` });
    }
    assert.ok(await until(() => logs.every((l) => l.got.length === perChannel), 10_000), 'answers missing');
    logs.forEach((log, i) => {
      assert.deepEqual(log.failed, []);
      const got = log.got.map((g) => g.answer).sort((a, b) => a.n - b.n);
      assert.deepEqual(got, Array.from({ length: perChannel }, (_, n) => ({ n: i * 1000 + n, text: `pong c${i}` })), `channel ${i} got another's answers`);
    });
    assert.equal(server.callStreams, 1);
    assert.equal(server.pendingCalls, 0);
  });

  test('a request that fails the codec is refused alone, invalid-request; the others on the stream are answered', async () => {
    const server = await node();
    serveEcho(server);
    const log = callLog();
    const calls = client().connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'fine' });
    calls.send(server.self, { n: 2, text: 'x'.repeat(65) });
    calls.send(server.self, { n: 3, text: 'fine too' });
    assert.ok(await until(() => log.got.length === 2 && log.failed.length === 1, 5000));
    expectFailure(log.failed[0]!, 'invalid-request', /^INVALID_ARGUMENT: .*ping\.text/);
    assert.deepEqual(log.got.map((g) => g.answer.n).sort(), [1, 3]);
    calls.send(server.self, { n: 4, text: 'after' });
    assert.ok(await until(() => log.got.length === 3, 5000), 'the stream did not survive the bad request');
    assert.equal(server.callStreams, 1);
  });

  test('a request of another cluster is refused wrong-cluster naming the server\'s cluster, and the stream goes on', async () => {
    const server = await node({ cluster: 'beta' });
    serveEcho(server);
    const log = callLog();
    const calls = client({}, 'alpha').connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'hi' });
    calls.send(server.self, { n: 2, text: 'hi again' });
    assert.ok(await until(() => log.failed.length === 2, 5000));
    for (const f of log.failed) {
      assert.deepEqual({ kind: f.failure.kind, ...(f.failure.kind === 'wrong-cluster' ? { expected: f.failure.expected, actual: f.failure.actual } : {}) },
        { kind: 'wrong-cluster', expected: 'alpha', actual: 'beta' });
    }
    assert.equal(server.callStreams, 1, 'a refused request ended the stream');
  });

  test('a request past its deadline fails timeout, its late answer is dropped, and the stream serves the next', async () => {
    const logger = capturingLogger();
    const server = await node();
    const held = holdCalls(server);
    const log = callLog();
    const c = new GrpcClientTransport({ cluster, logger, options: { callWire: 'stream', callDeadlineMs: 200 } });
    cleanup.push(() => c.close());
    const calls = c.connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'slow' });
    assert.ok(await until(() => log.failed.length === 1, 5000));
    expectFailure(log.failed[0]!, 'timeout', /^DEADLINE_EXCEEDED: /);
    assert.ok(await until(() => server.pendingCalls === 0, 5000), 'the server kept the request past its budget');
    held.answerOldest(); // forgotten by the server: nothing goes out
    calls.send(server.self, { n: 2, text: 'quick' });
    assert.ok(await until(() => held.waiting.length === 1, 5000));
    held.answerOldest();
    assert.ok(await until(() => log.got.length === 1, 5000));
    assert.deepEqual(log.got.map((g) => g.answer.n), [2]);
    assert.equal(log.failed.length, 1);
    assert.equal(server.callStreams, 1);
  });

  test('the server forgets a streamed request at its budget, and an answer the client gave up on is dropped by the client', async () => {
    // A server that answers after the client's deadline: the client drops the answer (debug), reports nothing more.
    const logger = capturingLogger();
    const server = await node();
    const answers = server.serve(echoCallCodec, (from, req) => setTimeout(() => answers.answer(from, req), 150));
    const log = callLog();
    const c = new GrpcClientTransport({ cluster, logger, options: { callWire: 'stream', callDeadlineMs: 100 } });
    cleanup.push(() => c.close());
    c.connect(echoCallCodec, log.receive, log.report).send(server.self, { n: 1, text: 'late' });
    assert.ok(await until(() => log.failed.length === 1, 5000));
    expectFailure(log.failed[0]!, 'timeout', /DEADLINE_EXCEEDED/);
    await sleep(200);
    assert.deepEqual(log.got, []);
  });

  test('closing the server fails the waiting requests unreachable; once it listens again the next request is served on a new stream', async () => {
    const first = await startNode();
    const { log, calls } = await twoHeldCalls(first, client());
    await first.close();
    assert.ok(await until(() => log.failed.length === 2, 5000));
    for (const f of log.failed) expectFailure(f, 'unreachable', /^UNAVAILABLE: /);

    const again = await node({ self: first.self });
    serveEcho(again);
    calls.send(first.self, { n: 3, text: 'c' });
    assert.ok(await until(() => log.got.length === 1, 5000), `not served again: ${JSON.stringify(log.failed.slice(2))}`);
    assert.deepEqual(log.got[0], { server: first.self, answer: { n: 3, text: 'pong c' } });
    assert.equal(again.callStreams, 1);
  });

  test('at most maxCallsPerStream requests wait on a stream; one more fails overloaded at once, without a retry hint', async () => {
    const server = await node();
    const held = holdCalls(server);
    const log = callLog();
    const calls = client({ maxCallsPerStream: 2 }).connect(echoCallCodec, log.receive, log.report);
    for (let n = 1; n <= 3; n++) calls.send(server.self, { n, text: `r${n}` });
    assert.ok(await until(() => held.waiting.length === 2 && log.failed.length === 1, 5000));
    expectFailure(log.failed[0]!, 'overloaded', /maxCallsPerStream 2/);
    assert.equal(log.failed[0]!.failure.kind === 'overloaded' ? log.failed[0]!.failure.retryAfterMs : 'other', undefined);
    held.answerOldest();
    assert.ok(await until(() => log.got.length === 1, 5000));
    calls.send(server.self, { n: 4, text: 'room again' });
    assert.ok(await until(() => held.waiting.length === 2, 5000), 'refused below the bound');
  });

  test('a request that would queue more than maxCallStreamQueuedBytes unsent fails overloaded; one alone always goes', async () => {
    const server = await node();
    serveEcho(server);
    const log = callLog();
    const calls = client({ maxCallStreamQueuedBytes: 10 }).connect(echoCallCodec, log.receive, log.report);
    // The first write waits for the stream to open: the second, sent at once, finds it queued.
    calls.send(server.self, { n: 1, text: 'more than ten bytes' });
    calls.send(server.self, { n: 2, text: 'queued behind it' });
    assert.ok(await until(() => log.got.length === 1 && log.failed.length === 1, 5000));
    expectFailure(log.failed[0]!, 'overloaded', /maxCallStreamQueuedBytes 10/);
    assert.equal(log.got[0]!.answer.n, 1);
  });

  test('a request above the server\'s message limit is refused alone, invalid-request, and refused here from then on; an answer above the client\'s is invalid-answer alone', async () => {
    const server = await node({ options: { maxMessageBytes: 1024 } });
    const answers = server.serve(echoCallCodec, (from, req) => answers.answer(from, { n: req.n, text: req.text === 'big answer' ? 'z'.repeat(4096) : req.text }));
    const log = callLog();
    const calls = client({ maxMessageBytes: 2048 }).connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'x'.repeat(65) }); // fails the codec: refused by the server alone
    assert.ok(await until(() => log.failed.length === 1, 5000));
    // Above the server's 1024 bytes: its grpc-js ends the stream; the client names the request, not the others.
    const big = { n: 2, text: 'y'.repeat(1500) };
    calls.send(server.self, big);
    assert.ok(await until(() => log.failed.length === 2, 5000));
    expectFailure(log.failed[1]!, 'invalid-request', /larger than the node accepts/);
    calls.send(server.self, big); // known now: refused here, the stream is not ended again
    assert.ok(await until(() => log.failed.length === 3, 5000));
    expectFailure(log.failed[2]!, 'invalid-request', /larger than the node accepts .*max 1024/);
    calls.send(server.self, { n: 3, text: 'big answer' });
    calls.send(server.self, { n: 4, text: 'small' });
    assert.ok(await until(() => log.failed.length === 4 && log.got.length === 1, 5000), JSON.stringify(log));
    // The server's own limit (1024) is below the answer: refused as grpc-js refuses a unary answer it cannot send.
    assert.match(log.failed[3]!.failure.detail, /RESOURCE_EXHAUSTED: Sent message larger than max/);
    assert.equal(log.got[0]!.answer.n, 4);
  });

  test('an answer above the client\'s own message limit is refused alone as invalid-answer (the request may have run)', async () => {
    const server = await node();
    const answers = server.serve(echoCallCodec, (from, req) => answers.answer(from, { n: req.n, text: req.text === 'big' ? 'z'.repeat(4096) : req.text }));
    const log = callLog();
    const calls = client({ maxMessageBytes: 2048 }).connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'big' });
    calls.send(server.self, { n: 2, text: 'small' });
    assert.ok(await until(() => log.failed.length === 1 && log.got.length === 1, 5000), JSON.stringify(log));
    expectFailure(log.failed[0]!, 'invalid-answer', /the answer is larger than this client accepts/);
    assert.equal(server.callStreams, 1);
  });

  test('a node serves at most maxCallStreams; the stream of one more is refused and its requests fail unreachable', async () => {
    const server = await node({ options: { maxCallStreams: 1 } });
    serveEcho(server);
    const [one, two] = [callLog(), callLog()];
    client().connect(echoCallCodec, one.receive, one.report).send(server.self, { n: 1, text: 'first' });
    assert.ok(await until(() => one.got.length === 1, 5000));
    client().connect(echoCallCodec, two.receive, two.report).send(server.self, { n: 2, text: 'second' });
    assert.ok(await until(() => two.failed.length === 1, 5000));
    expectFailure(two.failed[0]!, 'unreachable', /RESOURCE_EXHAUSTED.*maxCallStreams 1/);
    assert.equal(server.callStreams, 1);
  });

  test('answers queued beyond maxCallStreamQueuedBytes end the stream RESOURCE_EXHAUSTED; its waiting requests fail unreachable', async () => {
    // Two answers in one turn: the first is not yet taken by the connection when the second comes.
    const logger = capturingLogger();
    const server = await node({ logger, options: { maxCallStreamQueuedBytes: 10 } });
    const { held, log } = await twoHeldCalls(server, client());
    held.answerOldest();
    held.answerOldest();
    assert.ok(await until(() => log.got.length + log.failed.length === 2, 5000));
    assert.deepEqual(log.got.map((g) => g.answer.n), [1]);
    expectFailure(log.failed[0]!, 'unreachable', /RESOURCE_EXHAUSTED.*maxCallStreamQueuedBytes 10/);
    assert.ok(logger.lines.some((l) => l.level === 'warn' && l.msg.includes('does not read')));
    assert.ok(await until(() => server.callStreams === 0, 5000));
  });

  test('a message that is no request at all (no call_id) ends the stream INVALID_ARGUMENT; a missing budget is refused alone', async () => {
    const server = await node();
    serveEcho(server);
    const raw = new grpc.Client(server.self, grpc.credentials.createInsecure());
    cleanup.push(() => raw.close());
    const call = raw.makeBidiStreamRequest(echoStream.path, echoStream.requestSerialize, echoStream.responseDeserialize);
    const got: Fields[] = [];
    call.on('data', (answer: Fields) => got.push(answer));
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    call.write({ cluster, call_id: 1, ping: { n: 1, text: 'no budget' } });
    call.write({ cluster, call_id: 2, budget_ms: 1000, ping: { n: 2, text: 'fine' } });
    assert.ok(await until(() => got.length === 2, 5000));
    const byId = new Map(got.map((a) => [a['call_id'], a]));
    assert.match(String((byId.get(1)?.['refusal'] as Fields | undefined)?.['details']), /budget_ms/);
    assert.deepEqual(byId.get(2)?.['pong'], { n: 2, text: 'pong fine' });
    call.write({ cluster, ping: { n: 3, text: 'no number' } });
    const status = await ended;
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /call_id/);
  });

  test('an idle stream is closed after callStreamIdleMs, and the next request opens a new one at once', async () => {
    const server = await node();
    serveEcho(server);
    const log = callLog();
    const calls = client({ callStreamIdleMs: 100 }).connect(echoCallCodec, log.receive, log.report);
    calls.send(server.self, { n: 1, text: 'a' });
    assert.ok(await until(() => log.got.length === 1, 5000));
    assert.equal(server.callStreams, 1);
    assert.ok(await until(() => server.callStreams === 0, 5000), 'the idle stream stayed open');
    calls.send(server.self, { n: 2, text: 'b' });
    assert.ok(await until(() => log.got.length === 2, 5000));
    assert.deepEqual(log.failed, []);
  });

  test('a service without a Stream method (the node service) is called unary even when callWire is stream; a unary client opens no stream', async () => {
    const server = await node();
    const statusCalls: unknown[] = [];
    server.serve(nodeServiceCodec, (from) => statusCalls.push(from)); // held, never answered
    serveEcho(server);
    const c = client();
    c.connect(nodeServiceCodec, () => {}, () => {}).send(server.self, { kind: 'status' });
    assert.ok(await until(() => statusCalls.length === 1, 5000));
    assert.equal(server.callStreams, 0, 'the node service was streamed');
    const unary = callLog();
    client({ callWire: 'unary' }).connect(echoCallCodec, unary.receive, unary.report).send(server.self, { n: 2, text: 'y' });
    assert.ok(await until(() => unary.got.length === 1, 5000));
    assert.equal(server.callStreams, 0, 'a unary client opened a stream');
  });

  test('callWire must be stream or unary, and the retry bounds must be ordered', () => {
    assert.throws(() => new GrpcClientTransport({ cluster, logger: silent(), options: { callWire: 'both' as 'stream' } }), /callWire must be 'stream' or 'unary'/);
    assert.throws(() => new GrpcClientTransport({ cluster, logger: silent(), options: { callStreamRetryBaseMs: 500, callStreamRetryMaxMs: 100 } }), /callStreamRetryMaxMs/);
    assert.throws(() => new GrpcClientTransport({ cluster, logger: silent(), options: { maxCallsPerStream: 1.5 } }), /positive integer/);
  });
});

function silent(): ReturnType<typeof capturingLogger> {
  return capturingLogger();
}
