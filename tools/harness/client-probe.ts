import { silentLogger } from '../../src/env/logger.js';
import type { ClientTls } from '../../src/runtime/tls-files.js';
import type { NodeId } from '../../src/env/types.js';
import type { Json } from '../../src/rsm/app.js';
import { clientServiceCodec } from '../../src/rsm/codec.js';
import { describeCallFailure } from '../../src/env/transport.js';
import type { ClientAnswer, ClientCall } from '../../src/rsm/messages.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';

/** What one replica said to one client call: its answer, or why the call failed. */
export type ProbeResult =
  | { readonly kind: 'answer'; readonly answer: ClientAnswer; readonly ms: number }
  | { readonly kind: 'unreachable'; readonly reason: string; readonly ms: number };

/**
 * Sends one client call (`invoke proc(args)`) to exactly one replica, `node`, and reports what
 * came back, without following NOT_PRIMARY hints or retrying elsewhere as `RsmClient` does: the
 * way to ask "does this particular node answer a client?" (a deposed primary must not). The
 * call waits at most `deadlineMs`; past it the result is `unreachable` with a `timeout` failure.
 */
export async function callReplica(opts: {
  readonly cluster: string;
  readonly node: NodeId;
  readonly proc: string;
  readonly args: Json;
  /**
   * The arguments' text as sent, instead of `args` written as JSON: for arguments no client
   * would send (deeply nested, not JSON at all), to see the replica refuse them.
   */
  readonly argsText?: string;
  readonly deadlineMs: number;
  /** Default a fresh id per call, so that the client table knows nothing of it. */
  readonly clientId?: string;
  /** Default 1. */
  readonly seq?: number;
  /** Marked as a new client's request (see `Request.first`); default true. */
  readonly first?: boolean;
  /** Mutual TLS; absent: plaintext. */
  readonly tls?: ClientTls;
}): Promise<ProbeResult> {
  return sendOnce(opts.cluster, opts.node, opts.deadlineMs, opts.tls, {
    kind: 'invoke',
    request: {
      clientId: opts.clientId ?? `probe-${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
      seq: opts.seq ?? 1,
      proc: opts.proc,
      args: opts.args,
      argsText: opts.argsText ?? JSON.stringify(opts.args),
      first: opts.first ?? true,
    },
  });
}

/**
 * Asks exactly one replica, `node`, a client's `members` question (the view it is in, its
 * members, and the primary it names to clients), as `RsmClient` does before it picks a primary:
 * the way to see what a node tells clients (a primary whose lease lapsed names none).
 */
export function askMembers(opts: { readonly cluster: string; readonly node: NodeId; readonly deadlineMs: number; readonly tls?: ClientTls }): Promise<ProbeResult> {
  return sendOnce(opts.cluster, opts.node, opts.deadlineMs, opts.tls, { kind: 'members' });
}

/** Sends `call` to `node` on a transport of its own and resolves with the first answer or failure. */
async function sendOnce(cluster: string, node: NodeId, deadlineMs: number, tls: ClientTls | undefined, call: ClientCall): Promise<ProbeResult> {
  const transport = new GrpcClientTransport({
    cluster,
    logger: silentLogger,
    tls,
    options: { callDeadlineMs: deadlineMs, reconnectBackoffInitialMs: 50, reconnectBackoffMaxMs: 200 },
  });
  const started = performance.now();
  try {
    return await new Promise<ProbeResult>((resolve) => {
      const channel = transport.connect(
        clientServiceCodec,
        (_server, answer) => resolve({ kind: 'answer', answer, ms: performance.now() - started }),
        (_server, failure) => resolve({ kind: 'unreachable', reason: describeCallFailure(failure), ms: performance.now() - started }),
      );
      channel.send(node, call);
    });
  } finally {
    await transport.close();
  }
}

/** A one-line description of a probe's result, for failure messages. */
export function describeProbe(r: ProbeResult): string {
  if (r.kind === 'unreachable') return `no answer (${r.reason}) after ${Math.round(r.ms)} ms`;
  const a = r.answer;
  switch (a.kind) {
    case 'executed':
      return `executed (${a.outcome.ok ? JSON.stringify(a.outcome.value) : `${a.outcome.code}: ${a.outcome.message}`}) after ${Math.round(r.ms)} ms`;
    case 'not-primary':
      return `not-primary (primary ${a.primary ?? 'unknown'}, view ${a.vid}) after ${Math.round(r.ms)} ms`;
    case 'busy':
      return `busy (${a.reason}) after ${Math.round(r.ms)} ms`;
    case 'members':
      return `members of view ${a.vid} [${a.members.join(',')}], primary ${a.primary ?? 'none'} after ${Math.round(r.ms)} ms`;
    default:
      return `${a.kind} after ${Math.round(r.ms)} ms`;
  }
}
