import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { type CounterName, type HistogramName, type MetricLabels, type Metrics, gaugeCatalog, metricCatalog } from '../env/metrics.js';

/** What the scrape-time gauges show, read from the node in one executor task (`node/ops-status.ts`). */
export interface NodeGaugeSample {
  readonly vid: number;
  /** primary, backup, syncing, joining or starting. */
  readonly role: NodeRole;
  readonly ready: boolean;
  readonly inFlightRequests: number;
  readonly inFlightBytes: number;
  readonly lastExecuted: { readonly vid: number; readonly seqno: number } | null;
  readonly leaseHeld: boolean;
  readonly leaseRemainingMs: number;
  readonly callbackStreams: number;
  /** Open feed streams (`FeedHub.stats().streams`; 0 without feeds). */
  readonly feedStreams: number;
  /** Feed subscribers evicted since the node started (`FeedHub.stats().evicted`): added to `synod_stream_evictions_total` as it grows. */
  readonly feedEvictions: number;
}

/** The gRPC service of app feeds, as `synod_stream_evictions_total` labels it. */
const feedService = 'synod.rsm.Feeds';

export const nodeRoles = ['primary', 'backup', 'syncing', 'joining', 'starting'] as const;
export type NodeRole = (typeof nodeRoles)[number];

/**
 * `Metrics` on prom-client, with a registry of its own (never the global default one: several
 * nodes may share a process, in tests and under `startNode`), holding every metric of
 * `metricCatalog` and `gaugeCatalog` plus prom-client's default process metrics. Counters and
 * histograms move as the hooks call them; gauges are set from `sample()` at each scrape, so the
 * node keeps no gauge state between scrapes. A call naming an undeclared metric, or a label the
 * metric does not declare, is dropped rather than thrown: metrics must never take a node down.
 */
export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  readonly #counters = new Map<string, Counter>();
  readonly #histograms = new Map<string, Histogram>();
  readonly #gauges = new Map<string, Gauge>();
  /** Feed evictions already added to `synod_stream_evictions_total`. */
  #feedEvictionsCounted = 0;
  /** Set by the node once it runs; null: the gauges are left at their last values. */
  sample: (() => NodeGaugeSample | null) | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const [name, spec] of Object.entries(metricCatalog)) {
      const labelNames = 'labels' in spec ? [...spec.labels] : [];
      if (spec.kind === 'counter') {
        this.#counters.set(name, new Counter({ name, help: spec.help, labelNames, registers: [this.registry] }));
      } else {
        this.#histograms.set(name, new Histogram({ name, help: spec.help, labelNames, buckets: [...spec.buckets], registers: [this.registry] }));
      }
    }
    for (const [name, spec] of Object.entries(gaugeCatalog)) {
      const labelNames = 'labels' in spec ? [...spec.labels] : [];
      this.#gauges.set(name, new Gauge({ name, help: spec.help, labelNames, registers: [this.registry] }));
    }
  }

  count(name: CounterName, labels?: MetricLabels, by = 1): void {
    try {
      const c = this.#counters.get(name);
      if (labels === undefined) c?.inc(by);
      else c?.inc(labels, by);
    } catch {
      // An undeclared label or a negative amount: a bug in a hook, never a reason to stop the node.
    }
  }

  observe(name: HistogramName, value: number, labels?: MetricLabels): void {
    try {
      const h = this.#histograms.get(name);
      if (labels === undefined) h?.observe(value);
      else h?.observe(labels, value);
    } catch {
      // As in `count`.
    }
  }

  /** The Prometheus text exposition of every metric, the gauges sampled now. */
  async scrape(): Promise<string> {
    this.#setGauges();
    return this.registry.metrics();
  }

  /** The content type of `scrape()`'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  #setGauges(): void {
    let s: NodeGaugeSample | null = null;
    try {
      s = this.sample?.() ?? null;
    } catch {
      s = null; // the node is stopping: leave the gauges as they were
    }
    if (s === null) return;
    const set = (name: keyof typeof gaugeCatalog, value: number): void => this.#gauges.get(name)?.set(value);
    set('synod_view_id', s.vid);
    const role = this.#gauges.get('synod_role');
    for (const r of nodeRoles) role?.set({ role: r }, r === s.role ? 1 : 0);
    set('synod_ready', s.ready ? 1 : 0);
    set('synod_in_flight_requests', s.inFlightRequests);
    set('synod_in_flight_bytes', s.inFlightBytes);
    set('synod_last_executed_vid', s.lastExecuted?.vid ?? 0);
    set('synod_last_executed_seqno', s.lastExecuted?.seqno ?? 0);
    set('synod_lease_held', s.leaseHeld ? 1 : 0);
    set('synod_lease_remaining_seconds', s.leaseRemainingMs / 1000);
    set('synod_callback_streams', s.callbackStreams);
    set('synod_feed_streams', s.feedStreams);
    // The feed hub counts its evictions itself (a stalled subscriber, `stallTimeoutMs`); the counter takes the growth.
    if (s.feedEvictions > this.#feedEvictionsCounted) this.count('synod_stream_evictions_total', { service: feedService }, s.feedEvictions - this.#feedEvictionsCounted);
    this.#feedEvictionsCounted = Math.max(this.#feedEvictionsCounted, s.feedEvictions);
  }
}
