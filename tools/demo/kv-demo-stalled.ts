/**
 * The KV demo's deliberately slow watcher: a `watch` subscription over HTTP/2 whose body it stops
 * reading (`StalledFeedSubscriber`, the tester's). Its flow-control window (64 KiB) fills, the
 * primary's writes to it back up, and after the node's `feeds.stallTimeoutMs` the primary ends it
 * `evicted`, naming the last revision it sent. (A grpc-js client cannot stand for it: grpc-js reads
 * every message into memory as fast as the socket allows, so a slow reader behind it only fills
 * its own process's buffer, which `FeedReader` bounds by pausing the subscription: the client-side
 * half, which the demo shows with a `KvWatch`.)
 */
import { StalledFeedSubscriber } from '../tester/stalled-feed-subscriber.js';

/** What the stalled watcher saw once it read again: the revisions it had been sent, and how its stream ended. */
export interface StalledResult {
  readonly revisions: number[];
  readonly cancelReason: string | null;
  readonly sentThrough: number | null;
  readonly detail: string;
  readonly grpcStatus: number;
}

/** Subscribes to `prefix`'s changes after `after` at `primary`, reads nothing while `stall` runs, then reads what the server had sent, to the stream's end. */
export async function stalledWatch(primary: string, cluster: string, prefix: string, after: number, stall: () => Promise<void>): Promise<StalledResult> {
  const subscriber = new StalledFeedSubscriber({ address: primary, cluster, feed: 'watch', filter: { key: prefix, prefix: true }, after });
  try {
    await stall();
    const { messages, grpcStatus } = await subscriber.readToEnd();
    const revisions = messages.flatMap((m) => (m.kind === 'events' ? m.events.map((e) => e.position) : []));
    const cancel = messages.find((m) => m.kind === 'cancel');
    return {
      revisions,
      cancelReason: cancel?.kind === 'cancel' ? cancel.reason : null,
      sentThrough: cancel?.kind === 'cancel' && cancel.reason === 'evicted' ? cancel.sentThrough : null,
      detail: cancel?.kind === 'cancel' ? cancel.detail : '',
      grpcStatus,
    };
  } finally {
    subscriber.close();
  }
}
