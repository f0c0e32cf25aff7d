import type * as grpc from '@grpc/grpc-js';
import type { ClientStream, StreamCodec, StreamEnd, StreamHandlers } from '../env/streams.js';
import type { NodeId } from '../env/types.js';
import type { Fields } from '../env/validate.js';
import { type CallContext, callWire, errorText, fieldOf } from './grpc-peers.js';
import { streamEndOf } from './grpc-status.js';
import { streamMethod } from './grpc-streams.js';

/**
 * The client side of a server-streaming service (`ClientTransport.openStream`) over grpc-js:
 * one `Subscribe` call to `server` with the cluster name set and no deadline, on the peer
 * connection to it (whose keepalive, `TransportOptions.clientKeepaliveTimeMs`, ends a stream to a
 * server that went silent). The response headers are `accepted`; each message is checked with
 * `decodeMessage` (one that fails ends the stream `internal`, as a gap must not pass silently);
 * the final status is mapped to a `StreamEnd` by `streamEndOf` (`runtime/grpc-status.ts`).
 * Handlers never run inside `openStream`, and none after `close()` or after the owner's
 * connections closed.
 */
export function openGrpcStream<Req, Msg>(
  ctx: Omit<CallContext, 'deadlineMs'>,
  codec: StreamCodec<Req, Msg>,
  server: NodeId,
  request: Req,
  handlers: StreamHandlers<Msg>,
): ClientStream {
  const { log, peers } = ctx;
  const { service } = codec;
  const method = streamMethod(service);
  let call: grpc.ClientReadableStream<Fields> | null = null;
  let accepted = false;
  let done = false;

  const run = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      log.error({ server, service, err }, `stream ${what} handler threw`);
    }
  };
  const finish = (end: StreamEnd): void => {
    if (done || peers.closed) return;
    done = true;
    if (call !== null) peers.done(call);
    log.debug({ server, service, end: end.kind, detail: end.detail }, 'stream ended');
    run('end', () => handlers.ended(end));
  };
  const finishLater = (end: StreamEnd): ClientStream => {
    setImmediate(() => finish(end));
    return { close: () => void (done = true) };
  };

  if (peers.closed) return { close() {} };
  const made = callWire(ctx, codec, server, request, 'stream');
  if (!made.ok) return finishLater(made.failure);
  const { wire } = made;
  let client: grpc.Client;
  try {
    client = peers.get(server);
  } catch (err) {
    log.warn({ server, service, err }, 'stream not opened: cannot create a client for this address');
    return finishLater({ kind: 'unreachable', detail: errorText(err) });
  }
  const opened = client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, wire);
  call = opened;
  peers.track(opened);
  const accept = (): void => {
    if (accepted || done) return;
    accepted = true;
    run('accepted', () => handlers.accepted());
  };
  opened.on('metadata', accept);
  opened.on('data', (data: Fields) => {
    if (done || peers.closed) return;
    accept();
    let message: Msg;
    try {
      message = codec.decodeMessage(data);
    } catch (err) {
      log.warn({ server, service, field: fieldOf(err), err }, 'stream ended: a message failed validation');
      opened.cancel();
      finish({ kind: 'internal', detail: `a message failed validation: ${errorText(err)}` });
      return;
    }
    if (!done) run('message', () => handlers.message(message));
  });
  // grpc-js reports the end of a failed call twice (`error`, then `status`); the first counts.
  opened.on('error', (err: grpc.ServiceError) => finish(streamEndOf(err, ctx.cluster, peers.maxMessageBytes)));
  opened.on('status', (status: grpc.StatusObject) =>
    finish(status.code === 0 ? { kind: 'internal', detail: `${server} ended the stream without a reason` } : streamEndOf(status, ctx.cluster, peers.maxMessageBytes)));
  return {
    close(): void {
      if (done) return;
      done = true;
      peers.done(opened);
      opened.cancel();
    },
  };
}
