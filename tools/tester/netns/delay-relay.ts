/**
 * A TCP relay that delays every byte by a fixed time in each direction: the tester's link
 * latency under `--netns`, because this kernel has no `sch_netem` (`tc qdisc … netem` is
 * refused, and no other qdisc here delays by a fixed time without rate-limiting). The program
 * that runs it is relay-process.ts.
 *
 * It runs inside a node's namespace, where an iptables `nat OUTPUT … REDIRECT` rule sends the
 * node's connections to each peer to this relay's local port for that peer; the relay opens its
 * own connection to the peer (it runs as uid 65534, which the REDIRECT rule exempts, so its own
 * connections are not redirected again) and forwards each chunk `delayMs` after it arrived,
 * in order. Every node has its own relay, so every node-to-node connection crosses exactly one
 * relay: `delayMs` one way, twice that per round trip. Byte order and TCP's own behaviour
 * (loss, retransmission) are kept on both legs; what changes is when data arrives.
 *
 * Bounded: a direction holding more than `maxDelayedBytes` stops reading its source until the
 * queue drains.
 */
import { type Server, type Socket, createServer, connect } from 'node:net';

/**
 * Bytes one direction of one connection may hold in its delay queue before the relay stops
 * reading that side. 4 MiB: 50 ms of a 640 Mbit/s stream, far above what a node sends, so it
 * throttles nothing in a scenario while keeping a runaway sender from filling memory.
 */
export const maxDelayedBytes = 4 * 1024 * 1024;

/** The uid the relay runs as once it listens (`nobody`): what the REDIRECT rule exempts. */
export const relayUid = 65534;

/** Forwards `from`'s data to `to`, each chunk `delayMs` after it arrived, in order. */
function delayedPipe(from: Socket, to: Socket, delayMs: number): void {
  const queue: Array<{ dueMs: number; chunk: Buffer }> = [];
  let queuedBytes = 0;
  let timer: NodeJS.Timeout | null = null;
  let ended = false;
  const flush = (): void => {
    timer = null;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.dueMs <= now) {
      const { chunk } = queue.shift()!;
      queuedBytes -= chunk.length;
      to.write(chunk);
    }
    if (queuedBytes <= maxDelayedBytes && from.isPaused()) from.resume();
    if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.dueMs - now));
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    queue.push({ dueMs: performance.now() + delayMs, chunk });
    queuedBytes += chunk.length;
    if (queuedBytes > maxDelayedBytes) from.pause();
    timer ??= setTimeout(flush, delayMs);
  });
  from.on('end', () => {
    ended = true;
    timer ??= setTimeout(flush, delayMs);
  });
}

/**
 * Relays connections to `listenPort` (on 127.0.0.1) to `target`, delayed both ways. Each
 * direction ends on its own (half-open sockets): a side's FIN is passed on once the data before
 * it was delivered, so a graceful close loses nothing; an error on either side ends both.
 */
export function relay(listenPort: number, target: { host: string; port: number }, delayMs: number): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (inbound) => {
    const outbound = connect({ port: target.port, host: target.host, allowHalfOpen: true });
    const fail = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', fail);
    outbound.on('error', fail);
    delayedPipe(inbound, outbound, delayMs);
    delayedPipe(outbound, inbound, delayMs);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve(server));
  });
}
