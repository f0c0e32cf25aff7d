/**
 * What the cores and shells count (design §6b): a small interface injected through the node's
 * world (`NodeWorld.metrics`), so that nothing below `runtime/` depends on prom-client. The
 * simulator and tests leave it out and get `noMetrics`; production gives each node its own
 * prom-client registry (`runtime/prom-metrics.ts`).
 *
 * Every metric is declared once in `metricCatalog` (name, kind, help, label names, buckets): the
 * registry creates exactly those, docs/operating.md "Metrics" lists them, and a call naming one
 * that is not declared is dropped (a metric can never take a node down). Hooks call these
 * methods in one line where the event already happens; an implementation must never throw.
 */

/** Label values by label name; at most the names the metric declares, each value a short bounded string. */
export type MetricLabels = Readonly<Record<string, string>>;

export interface Metrics {
  /** Adds `by` (default 1) to the counter `name`. */
  count(name: CounterName, labels?: MetricLabels, by?: number): void;
  /** Records one observation (seconds or bytes, as the name says) in the histogram `name`. */
  observe(name: HistogramName, value: number, labels?: MetricLabels): void;
}

/** Metrics that go nowhere: the simulator's and every test world's. */
export const noMetrics: Metrics = {
  count: () => {},
  observe: () => {},
};

/** Latency buckets in seconds: 0.5 ms to 5 s, for an in-memory round (sub-millisecond) up to a stuck fsync. */
export const latencyBucketsSeconds: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Size buckets in bytes: 1 KiB to 1 GiB by factors of 4, for snapshots and state transfers. */
export const sizeBucketsBytes: readonly number[] = [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864, 268435456, 1073741824];

interface MetricSpec<K extends string> {
  readonly kind: K;
  readonly help: string;
  readonly labels?: readonly string[];
}
type HistogramSpec = MetricSpec<'histogram'> & { readonly buckets: readonly number[] };

/**
 * Every metric synod exports. Counters end in `_total`; units are in the names (`_seconds`,
 * `_bytes`). Label values are bounded: procedures are the app's declared ones (others count as
 * `unknown`), outcomes and reasons a fixed set each.
 */
export const metricCatalog = {
  synod_requests_total: { kind: 'counter', help: 'Client requests answered by this node, by procedure and outcome (ok, app-error, not-primary, busy, invalid, stale, refused).', labels: ['procedure', 'outcome'] },
  synod_request_duration_seconds: { kind: 'histogram', help: 'Client path at this node: from a request arriving to its answer leaving (the primary\'s whole replication round for executed requests).', labels: ['outcome'], buckets: latencyBucketsSeconds },
  synod_fsync_duration_seconds: { kind: 'histogram', help: 'One durable log flush: write and fdatasync of a group-committed batch.', labels: ['log'], buckets: latencyBucketsSeconds },
  synod_invoke_round_trip_seconds: { kind: 'histogram', help: 'Primary to backup: from first sending an invoke batch to the backup\'s acknowledgement of its last request (a re-send does not restart it).', buckets: latencyBucketsSeconds },
  synod_view_changes_total: { kind: 'counter', help: 'Views this node committed (its current view id moved).' },
  synod_heartbeats_missed_total: { kind: 'counter', help: 'Heartbeat intervals in which a member of this node\'s view was not heard, summed over members.' },
  synod_state_transfer_bytes_total: { kind: 'counter', help: 'State received by this replica in state transfers (snapshot chunks).' },
  synod_state_transfer_duration_seconds: { kind: 'histogram', help: 'Time this replica spent syncing in a view, from entering syncing to serving (normal).', buckets: latencyBucketsSeconds },
  synod_snapshot_size_bytes: { kind: 'histogram', help: 'Size of each snapshot file written.', labels: ['store'], buckets: sizeBucketsBytes },
  synod_snapshot_duration_seconds: { kind: 'histogram', help: 'Time to write each snapshot file durably (write, fsync, rename).', labels: ['store'], buckets: latencyBucketsSeconds },
  synod_stream_evictions_total: { kind: 'counter', help: 'Server streams ended because their client did not read them, by gRPC service: synod.rsm.Callbacks (maxQueuedStreamMessages waited unread), synod.rsm.Feeds (nothing read for feeds.stallTimeoutMs while events waited; counted at each scrape).', labels: ['service'] },
} as const satisfies Record<string, MetricSpec<'counter'> | HistogramSpec>;

/**
 * Gauges are read when Prometheus scrapes (from the node's status, in one executor task), so the
 * cores keep no gauge state: see `runtime/prom-metrics.ts` `NodeGaugeSample`. Declared here so
 * that the catalogue is whole.
 */
export const gaugeCatalog = {
  synod_view_id: { kind: 'gauge', help: 'The current view id at this node (0 before its first view).' },
  synod_role: { kind: 'gauge', help: '1 for this node\'s role now, 0 for the others: primary, backup, syncing, joining, starting.', labels: ['role'] },
  synod_ready: { kind: 'gauge', help: '1 when this node is a normal replica of a serving view (what /readyz and grpc.health.v1 say), else 0.' },
  synod_in_flight_requests: { kind: 'gauge', help: 'Requests the primary stamped and has not executed yet (0 on a backup).' },
  synod_in_flight_bytes: { kind: 'gauge', help: 'Bytes of the requests in flight at the primary (its in-flight budget, maxInFlightBytes).' },
  synod_last_executed_seqno: { kind: 'gauge', help: 'Seqno of the last request this replica executed, in view synod_last_executed_vid.' },
  synod_last_executed_vid: { kind: 'gauge', help: 'View of the last request this replica executed.' },
  synod_lease_held: { kind: 'gauge', help: '1 while this node is the serving primary holding its lease from every backup, else 0.' },
  synod_lease_remaining_seconds: { kind: 'gauge', help: 'How long the primary\'s lease still runs (0 without one).' },
  synod_callback_streams: { kind: 'gauge', help: 'Open callback streams (apps with callbacks; 0 otherwise).' },
  synod_feed_streams: { kind: 'gauge', help: 'Open feed streams (apps with feeds; 0 otherwise).' },
} as const satisfies Record<string, MetricSpec<'gauge'>>;

export type CounterName = { [K in keyof typeof metricCatalog]: (typeof metricCatalog)[K]['kind'] extends 'counter' ? K : never }[keyof typeof metricCatalog];
export type HistogramName = { [K in keyof typeof metricCatalog]: (typeof metricCatalog)[K]['kind'] extends 'histogram' ? K : never }[keyof typeof metricCatalog];
