// In-process KV clusters for the KV client's tests: `startNode` with the KV app and its leases, over real gRPC.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KvClient, type NodeHandle, connectKv, kvApp, kvLeaseSpec, startNode } from '../../../src/index.js';
import { freePortPairs } from '../../../tools/harness/ports.js';

export interface KvTestCluster {
  readonly members: string[];
  readonly nodes: NodeHandle[];
  readonly kv: KvClient;
  /** A second client of the cluster (another process's view of it). */
  connect(): Promise<KvClient>;
  close(): Promise<void>;
}

/** `n` KV nodes in this process (data in a fresh temporary directory), serving, and a connected `KvClient`. */
export async function kvCluster(n: number, kvOptions: Parameters<typeof connectKv>[0]['kv'] = {}): Promise<KvTestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'synod-kv-client-'));
  const members = (await freePortPairs(n)).map((p) => `127.0.0.1:${p}`);
  const nodes: NodeHandle[] = [];
  const clients: KvClient[] = [];
  for (const [i, me] of members.entries()) {
    const h = await startNode({ me, first: members[0]!, dataDir: join(dir, `n${i}`), app: kvApp, leases: kvLeaseSpec, logLevel: 'silent' });
    nodes.push(h);
    await h.ready;
  }
  const connectOne = async (): Promise<KvClient> => {
    const c = await connectKv({ members, kv: kvOptions, client: { defaultDeadlineMs: 20_000 } });
    clients.push(c);
    return c;
  };
  const kv = await connectOne();
  return {
    members, nodes, kv, connect: connectOne,
    close: async () => {
      await Promise.allSettled(clients.map((c) => c.close()));
      await Promise.allSettled(nodes.map((h) => h.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true, or fails after `ms`. */
export async function until(probe: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}
