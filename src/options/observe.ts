// The tunables of metrics, health and the status page (src/rsm/rsm-meter.ts, src/node/ops-*.ts).
import { withDefaults } from './with-defaults.js';

/** What the node keeps to measure itself, and how its status page gathers the cluster. */
export interface ObserveOptions {
  /**
   * Most client requests the RSM layer times at once (arrival noted, answer not left yet). A
   * request beyond it is counted but not timed; the oldest timing is dropped first. Default
   * 10000: well above the primary's in-flight bound (`RsmOptions.maxInFlight`) plus the requests
   * a backup answers at once, at about 100 bytes each (1 MB at most).
   */
  readonly maxTimedRequests: number;
  /**
   * Most invoke batches the primary times per backup (sent, not acknowledged yet). Default 1024:
   * above `RsmOptions.maxInvokeBatchesInFlight` by far; a batch beyond it is not timed.
   */
  readonly maxTimedInvokeBatches: number;
  /**
   * How long the status page's node waits for another member's status (the node service's
   * Status call) before it shows that member unreachable. Default 500 ms: a live member on any
   * network answers within a few ms, and the page refreshes every second.
   */
  readonly peerStatusTimeoutMs: number;
  /**
   * Most views the status page's timeline keeps (the newest). Default 64: a few screens of
   * changes, a few kB.
   */
  readonly statusTimelineViews: number;
  /**
   * How often the node looks at its own readiness (a status read in its executor), to flip
   * grpc.health.v1 and record view changes for the timeline. Default 50 ms: a probe sees a
   * change within a twentieth of a second, for one cheap in-memory read per look.
   */
  readonly readinessPollMs: number;
  /**
   * Most HTTP connections the ops endpoint (`--metrics-address`) holds at once; more are refused
   * by the server (closed at once). Default 64: a few Prometheus servers, probes and status pages
   * with room to spare, while a flood of connections cannot pile up memory in the node.
   */
  readonly maxOpsConnections: number;
  /**
   * How long the ops endpoint waits for a request's headers and whole request. Default 10000 ms:
   * every request here is a bare GET; a client slower than that is a stuck or hostile one.
   */
  readonly opsRequestTimeoutMs: number;
}

export const defaultObserveOptions: ObserveOptions = {
  maxTimedRequests: 10_000,
  maxTimedInvokeBatches: 1024,
  peerStatusTimeoutMs: 500,
  statusTimelineViews: 64,
  readinessPollMs: 50,
  maxOpsConnections: 64,
  opsRequestTimeoutMs: 10_000,
};

export function observeOptions(partial?: Partial<ObserveOptions>): ObserveOptions {
  return withDefaults(defaultObserveOptions, partial, 'observe');
}
