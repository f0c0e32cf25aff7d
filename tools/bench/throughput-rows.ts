import type { EtcdSide } from './throughput-etcd.js';
import type { Contender, Figures } from './throughput-measure.js';
import { type SynodSide, synodWrite } from './throughput-synod.js';

/**
 * The rows of `npm run bench -- throughput`: which workloads it measures, on which systems, driven
 * how. Every row is measured by alternating windows of its contenders (throughput-measure.ts).
 */

/** Groups of rows `--skip` names. */
export const rowGroups = ['sequential', 'writes', 'queries', 'locks', 'replicas', 'failover', 'tls'] as const;
export type RowGroup = typeof rowGroups[number];

/** The in-flight counts of the write rows beyond the sequential one, from the issue. */
export const writeInFlight = [16, 64, 256] as const;
/** Queries and the 3-vs-5 comparison run at this many in flight. */
export const manyInFlight = 64;
/** Lock clients of the lock rows, on one lock (contended) and on as many locks as clients. */
export const lockClients = 8;

/** One contender of a row, with what names it in the table and the JSON. */
export interface Entry {
  /** Stable key in the JSON: `synod`, `synodPerCall`, `etcd`, `synod3`, `synod5`, … */
  readonly key: string;
  readonly system: 'synod' | 'etcd';
  /** How it was driven (which client drove the figure). */
  readonly driver: string;
  readonly contender: Contender;
}

/** A measured row: its entries' figures by key. */
export interface MeasuredRow {
  readonly id: string;
  readonly group: RowGroup;
  readonly title: string;
  readonly entries: ReadonlyArray<Omit<Entry, 'contender'> & { readonly figures: Figures }>;
}

export interface PlannedRow {
  readonly id: string;
  readonly group: RowGroup;
  readonly title: string;
  readonly entries: readonly Entry[];
}

const one = 'one client';
const perCall = 'a client per call';

/** The write, query and sequential rows on the 3-node test-app cluster (and etcd when given). */
export function dataRows(synod: SynodSide, etcd: EtcdSide | null): PlannedRow[] {
  const etcdEntry = (n: number, what: 'put' | 'get'): Entry[] => (etcd === null ? [] : [{
    key: 'etcd', system: 'etcd', driver: `one Etcd3 client, ${n} in flight`,
    contender: what === 'put' ? etcd.puts(`etcd ${what}`, n) : etcd.gets(`etcd ${what}`, n),
  }]);
  const writes = (n: number): Entry[] => [
    { key: 'synod', system: 'synod', driver: `${one} (connect()), ${n} in flight`, contender: synod.oneClient(`synod ${one}`, n, (i) => synodWrite(`w-${i}`)) },
    ...(n === 1 ? [] : [{ key: 'synodPerCall', system: 'synod' as const, driver: `${perCall} (${n} RsmClients)`, contender: synod.clientPerCall(`synod ${perCall}`, n, (i) => synodWrite(`p-${i}`)) }]),
    ...etcdEntry(n, 'put'),
  ];
  const get = (): [string, { key: string }] => ['get', { key: 'bench-q' }];
  return [
    { id: 'sequential', group: 'sequential', title: 'sequential writes, 1 in flight (synod add, etcd put)', entries: writes(1) },
    ...writeInFlight.map((n): PlannedRow => ({ id: `writes-${n}`, group: 'writes', title: `writes, ${n} in flight (synod add, etcd put)`, entries: writes(n) })),
    {
      id: `queries-${manyInFlight}`, group: 'queries', title: `reads, ${manyInFlight} in flight (synod get query, etcd linearizable get)`,
      entries: [
        { key: 'synod', system: 'synod', driver: `${one} (connect()), ${manyInFlight} in flight`, contender: synod.oneClient(`synod ${one}`, manyInFlight, get) },
        { key: 'synodPerCall', system: 'synod', driver: `${perCall} (${manyInFlight} RsmClients)`, contender: synod.clientPerCall(`synod ${perCall}`, manyInFlight, get) },
        ...etcdEntry(manyInFlight, 'get'),
      ],
    },
  ];
}

/** The lock rows: synod's lock service against etcd3's Lock recipe. */
export function lockRows(synod: SynodSide, etcd: EtcdSide | null): PlannedRow[] {
  const row = (id: string, title: string, locks: number): PlannedRow => ({
    id, group: 'locks', title,
    entries: [
      { key: 'synod', system: 'synod', driver: `${lockClients} GrpcLockClients (caching)`, contender: synod.locks(`synod ${id}`, lockClients, locks) },
      ...(etcd === null ? [] : [{ key: 'etcd', system: 'etcd' as const, driver: `${lockClients} Etcd3 clients, Lock recipe`, contender: etcd.locks(`etcd ${id}`, lockClients, locks) }]),
    ],
  });
  return [
    row('locks-contended', `lock hand-overs, ${lockClients} clients on 1 lock (acquire+release; latency = acquire)`, 1),
    row('locks-spread', `lock cycles, ${lockClients} clients on ${lockClients} locks (acquire+release; latency = acquire)`, lockClients),
  ];
}

/**
 * `--tls`: the same writes on a plaintext and a TLS cluster of three (one client each), measured
 * alternately in one run, so the report's ratio is the cost of mutual TLS on one machine at one time.
 */
export function tlsRows(plain: SynodSide, tls: SynodSide): PlannedRow[] {
  const row = (n: number): PlannedRow => ({
    id: `tls-writes-${n}`, group: 'tls', title: `writes, ${n} in flight, plaintext against mutual TLS (synod add, one client)`,
    entries: [
      { key: 'synod', system: 'synod', driver: `plaintext, ${one} (connect())`, contender: plain.oneClient(`synod plaintext ${n}`, n, (i) => synodWrite(`t-${i}`)) },
      { key: 'synodTls', system: 'synod', driver: `mutual TLS, ${one} (connect())`, contender: tls.oneClient(`synod TLS ${n}`, n, (i) => synodWrite(`t-${i}`)) },
    ],
  });
  return [row(1), row(manyInFlight)];
}

/** 64-in-flight writes on the 3-node and the 5-node cluster, both drivers. */
export function replicaRow(three: SynodSide, five: SynodSide): PlannedRow {
  const n = manyInFlight;
  return {
    id: 'replicas', group: 'replicas', title: `writes, ${n} in flight, 3 against 5 replicas (synod add)`,
    entries: [
      { key: 'synod3', system: 'synod', driver: `3 replicas, ${one}`, contender: three.oneClient(`synod 3 ${one}`, n, (i) => synodWrite(`r-${i}`)) },
      { key: 'synod5', system: 'synod', driver: `5 replicas, ${one}`, contender: five.oneClient(`synod 5 ${one}`, n, (i) => synodWrite(`r-${i}`)) },
      { key: 'synod3PerCall', system: 'synod', driver: `3 replicas, ${perCall}`, contender: three.clientPerCall(`synod 3 ${perCall}`, n, (i) => synodWrite(`rp-${i}`)) },
      { key: 'synod5PerCall', system: 'synod', driver: `5 replicas, ${perCall}`, contender: five.clientPerCall(`synod 5 ${perCall}`, n, (i) => synodWrite(`rp-${i}`)) },
    ],
  };
}
