// The transport's edge for load: calls waiting for an answer are bounded in count and in bytes,
// and one more is refused at once with RESOURCE_EXHAUSTED and a retry hint, never queued.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { silentLogger } from '../../src/env/logger.js';
import type { Fields } from '../../src/env/validate.js';
import { type CallWire, type TransportOptions, defaultTransportOptions } from '../../src/options.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import { retryAfterMetadata, retryAfterOf } from '../../src/runtime/grpc-status.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { echoCallCodec } from '../conformance/echo-codec.js';
import { callLog, callWires, expectFailure, holdCalls } from './grpc-call-support.js';
import { capturingLogger, cluster, until, closedAfterBlock } from './grpc-support.js';

const echoCall = serviceDefinition(echoCallCodec.service)['Call'] as MethodDefinition<Fields, Fields, Fields, Fields>;

/**
 * The size of the request message of a ping with `text`, as the server receives it: on a call
 * stream it carries its number (`n` here, below 128) and its budget (the default deadline) too.
 */
function wireBytes(n: number, text: string, callWire: CallWire): number {
  const streamed = callWire === 'stream' ? { call_id: n, budget_ms: defaultTransportOptions.callDeadlineMs } : {};
  return echoCall.requestSerialize({ cluster, ...echoCallCodec.encodeRequest({ n, text }), ...streamed }).length;
}

for (const callWire of callWires) {
  describe(`the bounds of calls waiting at a GrpcTransport (${callWire} calls)`, { timeout: 60_000 }, () => {
    const { node, cleanup } = closedAfterBlock();

    function client(options: Partial<TransportOptions> = {}): GrpcClientTransport {
      const c = new GrpcClientTransport({ cluster, logger: silentLogger, options: { callWire, ...options } });
      cleanup.push(() => c.close());
      return c;
    }

    test('calls wait within maxPendingCallBytes; one more is refused RESOURCE_EXHAUSTED with the retry hint, and answering frees its bytes', async () => {
      const text = 'x'.repeat(60);
      const each = wireBytes(1, text, callWire);
      const logger = capturingLogger();
      const server = await node({ logger, options: { maxPendingCallBytes: 2 * each + 5, overloadRetryAfterMs: 250 } });
      const held = holdCalls(server);
      const log = callLog();
      const calls = client().connect(echoCallCodec, log.receive, log.report);
      for (let n = 1; n <= 3; n++) calls.send(server.self, { n, text });
      assert.ok(await until(() => held.waiting.length === 2 && log.failed.length === 1, 5000), 'a third call was not refused');
      expectFailure(log.failed[0]!, 'overloaded', new RegExp(`^RESOURCE_EXHAUSTED: .*${2 * each} bytes of unanswered calls; ${each} more would pass maxPendingCallBytes ${2 * each + 5}`));
      assert.equal(log.failed[0]!.failure.kind === 'overloaded' && log.failed[0]!.failure.retryAfterMs, 250, 'the hint reaches the client');
      assert.equal(server.pendingCallBytes, 2 * each);
      assert.ok(logger.lines.some((l) => l.level === 'warn' && l.fields['maxPendingCallBytes'] === 2 * each + 5 && l.fields['refused'] === 1));

      held.answerOldest();
      assert.ok(await until(() => log.got.length === 1, 5000));
      assert.equal(server.pendingCallBytes, each, 'the answered call no longer counts');
      calls.send(server.self, { n: 4, text });
      assert.ok(await until(() => held.waiting.length === 2, 5000), 'a call was refused below the limit');
      held.answerOldest();
      held.answerOldest();
      assert.ok(await until(() => log.got.length === 3 && server.pendingCallBytes === 0, 5000));
    });

    test('a call larger than maxPendingCallBytes is still served when no other call waits', async () => {
      // Any message within maxMessageBytes can be served: the byte bound never refuses a lone call.
      const server = await node({ options: { maxPendingCallBytes: 10 } });
      const held = holdCalls(server);
      const log = callLog();
      const calls = client().connect(echoCallCodec, log.receive, log.report);
      calls.send(server.self, { n: 1, text: 'a call of more than ten bytes' });
      assert.ok(await until(() => held.waiting.length === 1, 5000));
      calls.send(server.self, { n: 2, text: 'another' });
      assert.ok(await until(() => log.failed.length === 1, 5000));
      expectFailure(log.failed[0]!, 'overloaded', /maxPendingCallBytes 10/);
      held.answerOldest();
      assert.ok(await until(() => log.got.length === 1 && server.pendingCallBytes === 0, 5000));
    });

    test('a call the client gave up on frees its bytes', async () => {
      // Cancelled or past its deadline: forgotten, and no longer counted.
      const server = await node();
      const held = holdCalls(server);
      const log = callLog();
      const calls = client({ callDeadlineMs: 200 }).connect(echoCallCodec, log.receive, log.report);
      calls.send(server.self, { n: 1, text: 'soon forgotten' });
      assert.ok(await until(() => held.waiting.length === 1 && server.pendingCallBytes > 0, 5000));
      assert.ok(await until(() => log.failed.length === 1 && server.pendingCallBytes === 0 && server.pendingCalls === 0, 5000),
        `still ${server.pendingCallBytes} bytes pending`);
      expectFailure(log.failed[0]!, 'timeout', /DEADLINE_EXCEEDED/);
    });

    test('a flood of refusals is logged as one warn line with the count, not a line each', async () => {
      // The refusal is logged at the edge, without letting the log become the next resource to exhaust.
      const logger = capturingLogger();
      const server = await node({ logger, options: { maxPendingCalls: 1 } });
      const held = holdCalls(server);
      const log = callLog();
      const calls = client().connect(echoCallCodec, log.receive, log.report);
      calls.send(server.self, { n: 0, text: 'held' });
      assert.ok(await until(() => held.waiting.length === 1, 5000));
      for (let n = 1; n <= 20; n++) calls.send(server.self, { n, text: 'refused' });
      assert.ok(await until(() => log.failed.length === 20, 5000));
      const lines = logger.lines.filter((l) => l.level === 'warn' && /calls refused: too many waiting/.test(l.msg));
      assert.ok(lines.length >= 1 && lines.length <= 2, `${lines.length} warn lines for 20 refusals`);
      assert.equal(lines[0]!.fields['refused'], 1, 'the first refusal is logged at once');
      held.answerOldest();
    });

    test('a retry hint is read only when it is a whole number of milliseconds up to an hour', () => {
      // The client believes the server's hint within reason; anything else is ignored.
      assert.equal(retryAfterOf(retryAfterMetadata(250)), 250);
      assert.equal(retryAfterOf(undefined), undefined);
      for (const bad of ['-5', '1.5', 'soon', '99999999', '']) {
        const m = new grpc.Metadata();
        m.set('synod-retry-after-ms', bad);
        assert.equal(retryAfterOf(m), undefined, bad);
      }
    });
  });
}
