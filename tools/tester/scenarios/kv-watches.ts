/**
 * Tester scenarios of the KV store's watches (issue 16) on `synod node --app kv` processes: a
 * primary SIGKILLed while watchers stream, a whole cluster SIGKILLed and restarted on its data
 * directories, and a watcher that stops reading evicted with the typed cancel and resuming. In
 * each, a seeded writer (`KvWriter`, seed = the scenario's number) puts, deletes and runs txns,
 * and at the end every watcher is checked (tools/tester/kv-watch-check.ts) against a reference
 * watcher of every key, the replayed history against a final range, and the writer's
 * acknowledged revisions: every revision once, in order, nothing that did not happen.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { type SynodClient, connect } from '../../../src/client/connect.js';
import type { Json } from '../../../src/rsm/app.js';
import type { NodeProcess } from '../../harness/node-process.js';
import { sleep } from '../../harness/node-process.js';
import type { TesterCluster } from '../cluster.js';
import { KvWatcher, KvWriter, rangeAll } from '../kv-clients.js';
import { type WatchEvent, type WatcherLog, checkWatchers } from '../kv-watch-check.js';
import { check } from '../report.js';
import type { Scenario } from '../scenarios.js';
import { StalledFeedSubscriber } from '../stalled-feed-subscriber.js';
import { callDeadlineMs, viewChangeTimeoutMs } from '../timing.js';
import { servesAgain } from './restarts.js';

/** How long a watcher may take to reach the store's final revision once the writes are done. */
const catchUpTimeoutMs = 15_000;

/**
 * The scenario 30 nodes' feed options: a subscriber that reads nothing for half a second is
 * evicted. One event a message, so that the 100 events of 32 KiB pass what the server queues for
 * a stream (grpc-js's 16 messages, then the subscriber's 64 KiB window) and the stream blocks.
 */
const evictionFeedOptions = { stallTimeoutMs: 500, checkIntervalMs: 50, maxEventsPerMessage: 1 };

async function withClient(c: TesterCluster, body: (client: SynodClient) => Promise<void>): Promise<void> {
  const client = await connect({ members: c.nodes.filter((n) => n.running).map((n) => n.address), tls: c.clientTlsFiles });
  try {
    await body(client);
  } finally {
    await client.close();
  }
}

/** The current primary, as n1's status names it. */
async function primaryNode(c: TesterCluster, ask: NodeProcess): Promise<NodeProcess> {
  const { primary } = await c.status(ask);
  const n = c.nodes.find((x) => x.address === primary);
  check(n !== undefined, `${c.label(ask)} names no primary`);
  return n;
}

/**
 * Reads every key, waits until every watcher reached the store's revision, and checks them all
 * (see kv-watch-check.ts); `extra` gives the logs of watchers kept some other way, once the others caught up. Notes the figures.
 */
async function expectWatchersExact(c: TesterCluster, client: SynodClient, reference: KvWatcher, others: readonly KvWatcher[], writer: KvWriter,
  extra: () => readonly WatcherLog[] = () => []): Promise<void> {
  const final = await rangeAll(client, callDeadlineMs);
  for (const w of [reference, ...others]) await w.caughtUp(final.revision, catchUpTimeoutMs);
  const problems = checkWatchers({
    reference: reference.events, watchers: [...others.map((w) => w.log()), ...extra()], finalKvs: final.kvs, head: final.revision, acked: writer.acked,
  });
  check(problems.length === 0, () => `watch check: ${problems.length} problems:\n  ${problems.slice(0, 10).join('\n  ')}`);
  c.note(`watchers exact: revision ${final.revision}, ${final.kvs.length} live keys, ${writer.acked.length} acknowledged writes (${writer.unknown} unknown); ` +
    [reference, ...others].map((w) => `${w.name} ${w.events.length} events over ${w.streams} streams`).join(', '));
}

export const kvWatchScenarios: readonly Scenario[] = [
  {
    number: 28,
    name: 'KV watchers (all keys with prevKv, a prefix, one key, one started late) while the primary is SIGKILLed under writes: every revision once and in order at the new primary',
    nodes: 3,
    app: 'kv',
    async run(c) {
      // Proves that watches follow a failover exactly: the new primary continues every watcher after the last revision it received.
      await c.grow();
      const [A, B, C] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const G = c.growth();
      await withClient(c, async (client) => {
        const reference = new KvWatcher(client, 'reference', { key: '', prefix: true, prevKv: true });
        const byPrefix = new KvWatcher(client, 'a/', { key: 'a/', prefix: true });
        const byKey = new KvWatcher(client, 'k', { key: 'k', prevKv: true });
        const writer = new KvWriter(client, 28, callDeadlineMs);
        await writer.write(30);
        const late = new KvWatcher(client, 'b/ late', { key: 'b/', prefix: true, prevKv: true }, writer.revision - 5);
        await writer.write(10);
        const primary = await primaryNode(c, A);
        check(primary === A, `the primary is ${c.label(primary)}, not n1`);
        const writes = writer.write(80);
        await sleep(200); // writes in flight when it dies
        await c.kill(A, 'SIGKILL');
        await c.expectView([B, C], { history: [...G, [B, C]], primary: B, timeoutMs: viewChangeTimeoutMs });
        await writes;
        await expectWatchersExact(c, client, reference, [byPrefix, byKey, late], writer);
        for (const w of [reference, byPrefix, byKey, late]) check(w.streams >= 2, `watcher ${w.name} never moved off the dead primary (${w.streams} streams)`);
        await c.restart(A);
        await c.expectView([B, C, A], { history: [...G, [B, C], [B, C, A]], primary: B });
        await c.expectSameState(c.nodes);
      });
    },
  },
  {
    number: 29,
    name: 'KV watchers across a whole-cluster SIGKILL and restart: one kept open resumes by itself, one closed resumes from its last revision, one new reads from the start; each gets exactly what followed',
    nodes: 3,
    app: 'kv',
    async run(c) {
      // Proves that watches survive a power cut of every node: the history is durable, and a watcher resumes from any revision it reached.
      await c.grow();
      await withClient(c, async (client) => {
        const reference = new KvWatcher(client, 'reference', { key: '', prefix: true, prevKv: true });
        const kept = new KvWatcher(client, 'a/ kept open', { key: 'a/', prefix: true, prevKv: true });
        const closed = new KvWatcher(client, 'k closed and resumed', { key: 'k' });
        const writer = new KvWriter(client, 29, callDeadlineMs);
        await writer.write(50);
        await closed.caughtUp(writer.revision, catchUpTimeoutMs);
        await closed.close();
        c.note(`watcher ${closed.name} closed at revision ${closed.position}`);
        const vid = (await c.status(c.nodes[0]!)).vid;
        await Promise.all(c.nodes.map((n) => c.kill(n, 'SIGKILL')));
        const restartedAt = performance.now();
        await Promise.all(c.nodes.map((n) => c.restart(n)));
        await servesAgain(c, 'SIGKILL of every node', restartedAt, vid);
        closed.resume(client);
        const fromStart = new KvWatcher(client, 'b/ from the start, after the restart', { key: 'b/', prefix: true });
        await writer.write(50);
        await expectWatchersExact(c, client, reference, [kept, closed, fromStart], writer);
        check(reference.streams >= 2 && kept.streams >= 2, `the open watchers did not resubscribe (${reference.streams}, ${kept.streams} streams)`);
        await c.expectSameState(c.nodes);
      });
    },
  },
  {
    number: 30,
    name: 'a KV watcher that stops reading (HTTP/2 window full) is evicted with the typed cancel naming its last revision, and resumes from it with nothing missing; a watcher that reads is not evicted',
    nodes: 3,
    app: 'kv',
    async run(c) {
      // Proves Suicidal Snail on real processes: feeds.stallTimeoutMs from an options file evicts only the stalled subscriber, which loses nothing.
      const file = join(dirname(c.nodes[0]!.dataDir), 'options.json');
      writeFileSync(file, JSON.stringify({ feeds: evictionFeedOptions }));
      for (let k = 1; k <= c.nodes.length; k++) {
        await c.start(c.nodes[k - 1]!, ['--options', file]);
        await c.expectView(c.nodes.slice(0, k), { history: c.growth(k), primary: c.nodes[0]! });
      }
      await withClient(c, async (client) => {
        const filter = { key: 'big/', prefix: true };
        const reference = new KvWatcher(client, 'reference', { key: '', prefix: true, prevKv: true });
        const reading = new KvWatcher(client, 'big/ reading', filter);
        const writer = new KvWriter(client, 30, callDeadlineMs);
        const big = 'x'.repeat(32 * 1024);
        for (let i = 0; i < 100; i++) {
          const r = (await client.invoke('put', { key: `big/${i % 10}`, value: `${i}:${big}` }, { deadlineMs: callDeadlineMs })) as { revision: number };
          writer.acked.push({ revision: r.revision, puts: [[`big/${i % 10}`, `${i}:${big}`]], deletes: [] });
        }
        c.note(`100 puts of 32 KiB under big/, through revision ${writer.revision}`);
        const primary = await primaryNode(c, c.nodes[0]!);
        const stalled = new StalledFeedSubscriber({ address: primary.address, cluster: c.cluster, feed: 'watch', filter: filter as Json, after: 0, tls: c.clientTlsFiles });
        try {
          await sleep(evictionFeedOptions.stallTimeoutMs * 4); // well past the stall timeout: the primary evicts it now
          c.note('the stalled watcher reads again');
          const { messages, grpcStatus, grpcMessage } = await stalled.readToEnd();
          const last = messages.at(-1);
          check(last?.kind === 'cancel' && last.reason === 'evicted', () => `the stalled watcher's last message is ${JSON.stringify(last)?.slice(0, 300)}, not an evicted cancel (gRPC status ${grpcStatus} ${grpcMessage}, ${messages.length} messages)`);
          const batches = messages.filter((m) => m.kind === 'events');
          const through = batches.at(-1)?.through ?? 0;
          check(last.kind === 'cancel' && last.reason === 'evicted' && last.sentThrough === through, `the cancel names ${JSON.stringify(last)}, the last events sent reach ${through}`);
          check(through < writer.revision, `the stalled watcher was sent everything (through ${through}) before its eviction`);
          check(grpcStatus === grpc.status.RESOURCE_EXHAUSTED, `the evicted call ended with gRPC status ${grpcStatus}, not RESOURCE_EXHAUSTED`);
          check(/feeds: subscriber evicted/.test(c.log(primary)) && c.log(primary).includes(`"stallTimeoutMs":${evictionFeedOptions.stallTimeoutMs}`),
            `${c.label(primary)} did not log the eviction with the stall timeout of the options file`);
          const received = batches.flatMap((b) => b.kind === 'events' ? b.events.map((e) => e.event as unknown as WatchEvent) : []);
          c.note(`the stalled watcher was evicted after ${received.length} events (through revision ${through} of ${writer.revision}); it resumes from there`);
          const resumed = new KvWatcher(client, 'big/ resumed', filter, through);
          await writer.write(20); // more writes after the eviction: the resumed watcher and the reader see them too
          await expectWatchersExact(c, client, reference, [reading, resumed], writer,
            () => [{ name: 'big/ evicted, then resumed', filter, after: 0, events: [...received, ...resumed.events] }]);
          check(reading.error === null && reading.streams === 1, `the watcher that reads was disturbed (${reading.streams} streams, ${reading.error?.message ?? 'no error'})`);
        } finally {
          stalled.close();
        }
      });
    },
  },
];
