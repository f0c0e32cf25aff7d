// The edge: JSON arguments are checked once, when a client request (or a replica's invoke) is
// decoded, for size in bytes and nesting, with refusals naming the limit; the text received is
// kept and passed on unchanged, and the digest is computed from it. Decoded fields are range-checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidMessageError } from '../../src/env/errors.js';
import { checkRsmFitsTransport, limits, rsmOptions } from '../../src/options.js';
import { clientServiceCodec, replicaCodec } from '../../src/rsm/codec.js';
import { decodeCallbackMessage } from '../../src/rsm/callbacks-wire.js';
import { requestDigest } from '../../src/rsm/client-table.js';
import type { ClientCall, ReplicaMessage } from '../../src/rsm/messages.js';

const deepText = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const wireRequest = (args: string, seq = 1): Record<string, unknown> => ({ client_id: 'c', seq, proc: 'append', args });
const wireCall = (args: string, seq = 1): Record<string, unknown> => ({ invoke: { request: wireRequest(args, seq) } });

/** Asserts `run` throws an InvalidMessageError on `field` whose reason matches `reason`. */
function refuses(run: () => unknown, field: string, reason: RegExp): void {
  assert.throws(run, (e: unknown) => e instanceof InvalidMessageError && e.field === field && reason.test(e.reason), `${field} ${reason}`);
}

test('arguments nested deeper than limits.maxJsonDepth are refused at decoding, naming the limit, however deep', () => {
  // ~400 KB of [[[…]]]: under the size limit; JSON.stringify of its value would overflow the stack.
  const text = deepText(200_000);
  assert.ok(text.length < limits.maxRequestBytes);
  refuses(() => clientServiceCodec.decodeRequest(wireCall(text)), 'invoke.request.args', /nested deeper than 64 levels \(limits\.maxJsonDepth\)/);
  refuses(() => clientServiceCodec.decodeRequest(wireCall(deepText(limits.maxJsonDepth + 1))), 'invoke.request.args', /limits\.maxJsonDepth/);
  const atLimit = clientServiceCodec.decodeRequest(wireCall(deepText(limits.maxJsonDepth)));
  assert.equal(atLimit.kind === 'invoke' && atLimit.request.argsText, deepText(limits.maxJsonDepth), 'the limit itself is accepted');
  // An invoke from a (forged or broken) primary is held to the same limits.
  refuses(() => replicaCodec.decode({ invoke_batch: { vid: 1, first_seqno: 1, requests: [wireRequest(text)] } }),
    'invoke_batch.requests[0].args', /limits\.maxJsonDepth/);
});

test('arguments over limits.maxRequestBytes are refused naming the limit; a string of brackets is not nesting', () => {
  refuses(() => clientServiceCodec.decodeRequest(wireCall(JSON.stringify('€'.repeat(limits.maxRequestBytes / 3)))), 'invoke.request.args',
    /more than 1048576 bytes of JSON \(limits\.maxRequestBytes\)/);
  // More characters than the limit has bytes: named the same way (found by the fuzzer, which
  // expects every refusal of a JSON limit to name it; this one said only "longer than 1048576 characters").
  refuses(() => clientServiceCodec.decodeRequest(wireCall(JSON.stringify('x'.repeat(limits.maxRequestBytes)))), 'invoke.request.args',
    /more than 1048576 bytes of JSON \(limits\.maxRequestBytes\)/);
  const brackets = JSON.stringify('['.repeat(10_000));
  const call = clientServiceCodec.decodeRequest(wireCall(brackets));
  assert.equal(call.kind === 'invoke' && call.request.args, '['.repeat(10_000));
});

test('the text received is kept as it came, passed on to backups unchanged, and digested as it is', () => {
  // Spaces and key order a re-serialisation would change: the backup's digest equals the primary's.
  const text = '{ "item" : "x",  "b":1 }';
  const call = clientServiceCodec.decodeRequest(wireCall(text)) as Extract<ClientCall, { kind: 'invoke' }>;
  assert.equal(call.request.argsText, text);
  assert.deepEqual(call.request.args, { item: 'x', b: 1 });
  const invoke: ReplicaMessage = { kind: 'invoke', vid: 2, firstSeqno: 7, requests: [call.request] };
  const atBackup = replicaCodec.decode(replicaCodec.encode(invoke)) as Extract<ReplicaMessage, { kind: 'invoke' }>;
  assert.equal(atBackup.requests[0]!.argsText, text);
  assert.equal(requestDigest(atBackup.requests[0]!), requestDigest(call.request));
  assert.equal(requestDigest(call.request), requestDigest({ proc: 'append', argsText: text }));
});

test('decoded replica messages are range-checked: stamped viewstamps start at view 1 and seqno 1; booleans are booleans', () => {
  refuses(() => replicaCodec.decode({ invoke_batch: { vid: 1, first_seqno: 0, requests: [wireRequest('null')] } }), 'invoke_batch.first_seqno', /out of range/);
  refuses(() => replicaCodec.decode({ invoke_ack: { vs: { vid: 0, seqno: 3 } } }), 'invoke_ack.vs.vid', /out of range/);
  refuses(() => replicaCodec.decode({ invoke_reject: { vs: { vid: 2, seqno: -1 }, vid: 2 } }), 'invoke_reject.vs.seqno', /out of range/);
  refuses(() => replicaCodec.decode({ sync_status: { vid: 1, complete: 'yes' } }), 'sync_status.complete', /not a boolean/);
  assert.deepEqual(replicaCodec.decode({ sync_status: { vid: 1 } }), { kind: 'sync-status', vid: 1, last: null, complete: false, syncedVid: null, leaseWaitMs: 0 }, 'absent is false (and no synced view, no lease wait)');
  refuses(() => replicaCodec.decode({ sync_status: { vid: 1, lease_wait_ms: 3_600_001 } }), 'sync_status.lease_wait_ms', /out of range/);
  refuses(() => replicaCodec.decode({ lease_ask: { vid: 1, lease_ms: 500 } }), 'lease_ask.round', /out of range/);
  refuses(() => replicaCodec.decode({ lease_ask: { vid: 1, round: 1 } }), 'lease_ask.lease_ms', /out of range/);
  refuses(() => replicaCodec.decode({ lease_ask: { vid: 1, round: 1, lease_ms: 600_001 } }), 'lease_ask.lease_ms', /out of range/);
  refuses(() => replicaCodec.decode({ lease_ask: { vid: 1, round: 1, lease_ms: 500, max_drift_ppm: 100_000 } }), 'lease_ask.max_drift_ppm', /out of range/);
  refuses(() => replicaCodec.decode({ lease_grant: { vid: 0, round: 1 } }), 'lease_grant.vid', /out of range/);
});

test('a client refuses an answer whose reply passes the reply limits (a server cannot overflow its client either)', () => {
  const answer = (value: string) => ({ executed: { client_id: 'c', seq: 1, outcome: { ok: true, value } } });
  refuses(() => clientServiceCodec.decodeAnswer(answer(deepText(5000))), 'executed.outcome.value', /limits\.maxJsonDepth/);
  assert.deepEqual(clientServiceCodec.decodeAnswer(answer('[1]')), { kind: 'executed', clientId: 'c', seq: 1, outcome: { ok: true, value: [1] } });
  refuses(() => clientServiceCodec.decodeAnswer({ executed: { client_id: 'c', seq: 1, outcome: { ok: 1, value: '1' } } }), 'executed.outcome.ok', /not a boolean/);
});

test('a lock client refuses a callback message beyond the reply limits, as any message that is not JSON', () => {
  assert.deepEqual(decodeCallbackMessage({ message: '{"kind":"retry","lock":"a"}' }), { kind: 'retry', lock: 'a' });
  refuses(() => decodeCallbackMessage({ message: deepText(100_000) }), 'message', /limits\.maxJsonDepth/);
  refuses(() => decodeCallbackMessage({ message: JSON.stringify('x'.repeat(limits.maxReplyBytes)) }), 'message', /limits\.maxReplyBytes/);
  refuses(() => decodeCallbackMessage({ message: '{not json' }), 'message', /not JSON/);
});

test('an invoke batch is refused when empty, over limits.maxInvokeBatchRequests, or with seqnos past the exact range', () => {
  const one = wireRequest('null');
  refuses(() => replicaCodec.decode({ invoke_batch: { vid: 1, first_seqno: 1, requests: [] } }), 'invoke_batch.requests', /1 to 10000 requests/);
  refuses(() => replicaCodec.decode({ invoke_batch: { vid: 1, first_seqno: 1 } }), 'invoke_batch.requests', /1 to 10000 requests/);
  const many = Array.from({ length: limits.maxInvokeBatchRequests + 1 }, () => one);
  refuses(() => replicaCodec.decode({ invoke_batch: { vid: 1, first_seqno: 1, requests: many } }), 'invoke_batch.requests', /1 to 10000 requests/);
  refuses(() => replicaCodec.decode({ invoke_batch: { vid: 1, first_seqno: Number.MAX_SAFE_INTEGER, requests: [one, one] } }), 'invoke_batch.first_seqno', /out of range/);
  refuses(() => replicaCodec.decode({ invoke_batch: { vid: 0, first_seqno: 1, requests: [one] } }), 'invoke_batch.vid', /out of range/);
  const atLimit = replicaCodec.decode({ invoke_batch: { vid: 1, first_seqno: Number.MAX_SAFE_INTEGER - 1, requests: [one, one] } });
  assert.ok(atLimit.kind === 'invoke' && atLimit.requests.length === 2, 'the last exact seqno itself is accepted');
  const full = replicaCodec.decode({ invoke_batch: { vid: 1, first_seqno: 1, requests: many.slice(1) } });
  assert.ok(full.kind === 'invoke' && full.requests.length === limits.maxInvokeBatchRequests);
});

test('batch bounds that cannot fit a message, or pass the wire limit, are refused before a node starts', () => {
  assert.throws(() => rsmOptions({ maxInvokeBatchRequests: limits.maxInvokeBatchRequests + 1 }), /rsm\.maxInvokeBatchRequests must be at most limits\.maxInvokeBatchRequests/);
  assert.throws(() => rsmOptions({ maxInvokeBatchesInFlight: 0 }), /maxInvokeBatchesInFlight/);
  checkRsmFitsTransport(rsmOptions(undefined), limits.maxMessageBytes); // the defaults fit
  assert.throws(() => checkRsmFitsTransport(rsmOptions({ maxInvokeBatchBytes: 2 * 1024 * 1024 }), limits.maxMessageBytes), /an invoke batch of rsm\.maxInvokeBatchBytes/);
});
