// A cluster with mutual TLS through the public API (startNode, connect): it elects, replicates and
// answers a client that presents a client certificate; a client without one is refused with a
// reason it can read, and a bad file refuses the node's start naming the file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DiscoveryError, type NodeHandle, TlsFileError, connect, defineApp, jsonState, startNode } from '../../src/index.js';
import { makeDevCerts } from '../../src/cli/dev-certs.js';
import { freePortPairs } from '../../tools/harness/ports.js';

const counter = defineApp<{ n: number }>({
  name: 'count',
  version: '1.0.0',
  initialState: () => ({ n: 0 }),
  handlers: { add: (s) => ++s.n },
  marshalState: (s) => jsonState.marshal(s),
  unmarshalState: (b) => jsonState.unmarshal(b) as { n: number },
});

const dir = mkdtempSync(join(tmpdir(), 'synod-tls-cluster-'));
const handles: NodeHandle[] = [];
after(async () => {
  await Promise.allSettled(handles.map((h) => h.stop()));
  rmSync(dir, { recursive: true, force: true });
});

test('a TLS cluster of three elects, replicates and answers a client with a certificate; one without is refused', async () => {
  const ports = await freePortPairs(3);
  const ids = ports.map((p) => `127.0.0.1:${p}`);
  const certs = makeDevCerts({ dir: join(dir, 'certs'), nodes: ids, clients: 1 });
  const first = ids[0]!;
  for (const [i, me] of ids.entries()) {
    const node = await startNode({ me, first, dataDir: join(dir, `n${i}`), app: counter, logLevel: 'silent', tls: certs.node(me) });
    handles.push(node);
    await node.ready;
  }
  assert.deepEqual([...handles[2]!.status().members].sort(), [...ids].sort(), 'all three joined over TLS');

  const client = await connect({ members: ids, tls: certs.client(1) });
  try {
    assert.equal(await client.invoke('add'), 1);
    assert.equal(await client.invoke('add'), 2);
  } finally {
    await client.close();
  }
  // Replicated: every replica executes what the primary executed (over the peers' TLS).
  const stamp = (h: NodeHandle): string => JSON.stringify(h.status().lastExecuted);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !(stamp(handles[0]!) !== 'null' && handles.every((h) => stamp(h) === stamp(handles[0]!)))) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(handles.every((h) => stamp(h) === stamp(handles[0]!)), `every replica executed the same: ${handles.map(stamp).join(' ')}`);

  // Refused credentials are not retried until the deadline: the first round that sees one fails.
  const refusedAt = performance.now();
  await assert.rejects(connect({ members: ids, tls: { ca: certs.clusterCa }, timing: { connectDeadlineMs: 60_000 } }),
    (err: unknown) => err instanceof DiscoveryError && /UNAUTHENTICATED: .*client authentication/.test(err.message));
  assert.ok(performance.now() - refusedAt < 30_000, 'discovery gave up on refused credentials before its deadline');
  await assert.rejects(connect({ members: ids, timing: { connectDeadlineMs: 1500 } }),
    (err: unknown) => err instanceof DiscoveryError, 'a plaintext client reaches no TLS node');
});

test('a node whose certificate file is missing does not start, and says which file', async () => {
  const [port] = await freePortPairs(1);
  const me = `127.0.0.1:${port}`;
  const certs = makeDevCerts({ dir: join(dir, 'certs-2'), nodes: [me], clients: 0 });
  const files = { ...certs.node(me), key: join(dir, 'missing.key') };
  await assert.rejects(startNode({ me, first: me, dataDir: join(dir, 'solo'), app: counter, logLevel: 'silent', tls: files }),
    (err: unknown) => err instanceof TlsFileError && err.file === files.key && /no such file/.test(err.message));
});
