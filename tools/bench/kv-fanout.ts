import { Etcd3, type Watcher } from 'etcd3';
import type { SynodClient } from '../../src/client/connect.js';
import type { FeedReader } from '../../src/client/feed-reader.js';
import { sleep } from '../harness/node-process.js';
import { percentile } from './durability-writes.js';
import { callDeadlineMs } from './throughput-timing.js';

/**
 * The watch fan-out row of `npm run bench -- kv`: one writer puts keys under a fresh prefix (with
 * `writerInFlight` puts at once) for one window while `watchers` watchers of that prefix, started
 * before the first put, receive them. Figures: events delivered per second (every watcher's events,
 * over the time from the first put to the last event received) and the delay of each event at each
 * watcher from its put's acknowledgement to its receipt (an event received before the writer saw
 * the reply counts 0; how many did is reported). Every watcher must receive every put: one that
 * misses one fails the run.
 */

/** Puts the writer keeps in flight: enough to keep the watchers busy, as one busy writer would. */
export const writerInFlight = 16;
/** How long the watchers may take after the window to receive the last put. */
const drainTimeoutMs = 30_000;

/** One system's side of the row: opens `watchers` watchers of `prefix`, each event reported with its revision. */
export interface FanoutSide {
  readonly label: string;
  open(watchers: number, prefix: string, received: (watcher: number, revision: number) => void): Promise<{ put(key: string): Promise<number>; close(): Promise<void> }>;
}

/** One window's raw figures. */
export interface FanoutSample {
  readonly puts: number;
  readonly events: number;
  /** From the first put to the last event received. */
  readonly elapsedMs: number;
  readonly delaysMs: readonly number[];
  readonly beforeAck: number;
}

export interface FanoutFigures {
  readonly puts: number;
  readonly events: number;
  readonly eventsPerSec: number;
  readonly p50DelayMs: number;
  readonly p99DelayMs: number;
  /** Events a watcher received before the writer had the put's reply. */
  readonly beforeAck: number;
}

/** Windows pooled: events over their summed time, every delay together. */
export function poolFanout(samples: readonly FanoutSample[]): FanoutFigures {
  const sorted = samples.flatMap((s) => s.delaysMs).sort((a, b) => a - b);
  const events = samples.reduce((t, s) => t + s.events, 0);
  return {
    puts: samples.reduce((t, s) => t + s.puts, 0),
    events,
    eventsPerSec: events / (samples.reduce((t, s) => t + s.elapsedMs, 0) / 1000),
    p50DelayMs: percentile(sorted, 50),
    p99DelayMs: percentile(sorted, 99),
    beforeAck: samples.reduce((t, s) => t + s.beforeAck, 0),
  };
}

/** One window of the row on one side. */
export async function fanoutWindow(side: FanoutSide, watchers: number, windowMs: number, prefix: string): Promise<FanoutSample> {
  const ackedAt = new Map<number, number>();
  /** Receipts waiting for their put's reply: revision → times. */
  const early = new Map<number, number[]>();
  const delays: number[] = [];
  let events = 0;
  let beforeAck = 0;
  let lastEventAt = 0;
  const received = (_watcher: number, revision: number): void => {
    const now = performance.now();
    events++;
    lastEventAt = now;
    const acked = ackedAt.get(revision);
    if (acked === undefined) early.set(revision, [...(early.get(revision) ?? []), now]);
    else delays.push(Math.max(0, now - acked));
  };
  const opened = await side.open(watchers, prefix, received);
  try {
    const start = performance.now();
    let seq = 0;
    await Promise.all(Array.from({ length: writerInFlight }, async () => {
      while (performance.now() < start + windowMs) {
        const revision = await opened.put(`${prefix}${++seq % 1000}`);
        ackedAt.set(revision, performance.now());
        for (const _ of early.get(revision) ?? []) {
          delays.push(0);
          beforeAck++;
        }
        early.delete(revision);
      }
    }));
    const want = ackedAt.size * watchers;
    const deadline = performance.now() + drainTimeoutMs;
    while (events < want) {
      if (performance.now() > deadline) throw new Error(`${side.label}: ${events} of ${want} events received ${drainTimeoutMs} ms after the last put`);
      await sleep(5);
    }
    if (events > want) throw new Error(`${side.label}: ${events} events received for ${ackedAt.size} puts and ${watchers} watchers`);
    return { puts: ackedAt.size, events, elapsedMs: lastEventAt - start, delaysMs: delays, beforeAck };
  } finally {
    await opened.close();
  }
}

/** synod: the watchers are feeds of one client, the writer another client. */
export function synodFanout(connect: () => Promise<SynodClient>): FanoutSide {
  return {
    label: 'synod',
    async open(watchers, prefix, received) {
      const writer = await connect();
      const watching = await connect();
      const { revision: head } = (await writer.invoke('status', null, { deadlineMs: callDeadlineMs })) as { revision: number };
      const readers: FeedReader[] = [];
      const loops = Array.from({ length: watchers }, async (_, w) => {
        const reader = watching.feed('watch', { key: prefix, prefix: true }, { after: head });
        readers.push(reader);
        for await (const batch of reader) for (const e of batch.events) received(w, e.position);
      });
      return {
        put: async (key) => ((await writer.invoke('put', { key, value: 'v' }, { deadlineMs: callDeadlineMs })) as { revision: number }).revision,
        close: async () => {
          for (const r of readers) r.close();
          await Promise.allSettled(loops);
          await Promise.all([writer.close(), watching.close()]);
        },
      };
    },
  };
}

/** etcd: the watchers are watches of one `Etcd3` client (etcd3 multiplexes them on its watch stream), the writer another client. */
export function etcdFanout(hosts: readonly string[]): FanoutSide {
  return {
    label: 'etcd',
    async open(watchers, prefix, received) {
      const writer = new Etcd3({ hosts: [...hosts] });
      const watching = new Etcd3({ hosts: [...hosts] });
      const head = Number((await writer.maintenance.status()).header.revision);
      const opened: Watcher[] = [];
      for (let w = 0; w < watchers; w++) {
        const watcher = await watching.watch().prefix(prefix).startRevision(String(head + 1)).create();
        watcher.on('put', (kv) => received(w, Number(kv.mod_revision)));
        opened.push(watcher);
      }
      return {
        put: async (key) => Number((await writer.put(key).value('v').options({ deadline: Date.now() + callDeadlineMs }).exec()).header.revision),
        close: async () => {
          await Promise.all(opened.map((w) => w.cancel()));
          writer.close();
          watching.close();
        },
      };
    },
  };
}
