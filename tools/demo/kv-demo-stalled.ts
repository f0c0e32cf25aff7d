/**
 * The KV demo's deliberately slow watcher: a `watch` subscription made by hand over HTTP/2 whose
 * body it stops reading. Its flow-control window (64 KiB) fills, the primary's writes to it back
 * up, and after the node's `feeds.stallTimeoutMs` the primary ends it `evicted`, naming the last
 * revision it sent. (A grpc-js client cannot stand for it: grpc-js reads every message into memory
 * as fast as the socket allows, so a slow reader behind it only fills its own process's buffer,
 * which `FeedReader` bounds by pausing the subscription: the client-side half.)
 */
import * as http2 from 'node:http2';
import { protoPackage } from '../../src/runtime/proto.js';

type Method = { requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => Record<string, unknown> };

/** What the stalled watcher saw once it read again: the revisions it had been sent, and how its stream ended. */
export interface StalledResult {
  readonly revisions: number[];
  readonly cancelReason: string | null;
  readonly sentThrough: number | null;
  readonly detail: string;
  readonly grpcStatus: number;
}

/**
 * Subscribes to `prefix`'s changes after `after` at `primary`, reads nothing for `stallMs` (the
 * caller writes meanwhile), then reads what the server had sent to the end of the stream.
 */
export async function stalledWatch(primary: string, cluster: string, prefix: string, after: number, stall: () => Promise<void>): Promise<StalledResult> {
  const method = (protoPackage()['synod.rsm.Feeds'] as Record<string, Method>)['Subscribe']!;
  const body = method.requestSerialize({ cluster, feed: 'watch', filter: JSON.stringify({ key: prefix, prefix: true }), after });
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
  frame.writeUInt32BE(body.length, 1);
  const session = http2.connect(`http://${primary}`, { settings: { initialWindowSize: 65_535 } });
  try {
    const req = session.request({ ':method': 'POST', ':path': '/synod.rsm.Feeds/Subscribe', 'content-type': 'application/grpc', te: 'trailers' });
    req.end(frame);
    req.pause();
    await stall();
    const chunks: Buffer[] = [];
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      req.on('trailers', resolve);
      req.on('error', reject);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.resume();
    const status = await trailers;
    const data = Buffer.concat(chunks);
    const revisions: number[] = [];
    let cancel: Record<string, unknown> | null = null;
    for (let at = 0; at + 5 <= data.length;) {
      const length = data.readUInt32BE(at + 1);
      const message = method.responseDeserialize(data.subarray(at + 5, at + 5 + length));
      at += 5 + length;
      const events = message['events'] as { events: Array<{ position: unknown }> } | undefined;
      if (events !== undefined) revisions.push(...events.events.map((e) => Number(e.position)));
      if (message['cancel'] !== undefined) cancel = message['cancel'] as Record<string, unknown>;
    }
    return {
      revisions,
      cancelReason: cancel === null ? null : String(cancel['reason']),
      sentThrough: cancel === null ? null : Number(cancel['sent_through']),
      detail: cancel === null ? '' : String(cancel['detail']),
      grpcStatus: Number(status['grpc-status']),
    };
  } finally {
    session.close();
  }
}
