// startNode's handle tells when the node is a member (ready) and when it stopped, and why: a node
// of another app is refused by the cluster, its ready rejects with JoinRefusedError and stopped
// resolves with it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { JoinRefusedError, type NodeHandle, defineApp, jsonState, startNode } from '../../src/index.js';
import { freePortPairs } from '../../tools/harness/ports.js';

const counter = (name: string, version: string) => defineApp<{ n: number }>({
  name,
  version,
  initialState: () => ({ n: 0 }),
  handlers: { add: (s) => ++s.n },
  marshalState: (s) => jsonState.marshal(s),
  unmarshalState: (b) => jsonState.unmarshal(b) as { n: number },
});

const dir = mkdtempSync(join(tmpdir(), 'synod-start-node-'));
const handles: NodeHandle[] = [];
after(async () => {
  await Promise.allSettled(handles.map((h) => h.stop()));
  rmSync(dir, { recursive: true, force: true });
});

test('ready resolves once a node is a member; a node of another version is refused, stopped, and says why', async () => {
  const [p1, p2, p3] = await freePortPairs(3);
  const first = `127.0.0.1:${p1}`;
  const a = await startNode({ me: first, first, dataDir: join(dir, 'a'), app: counter('count', '1.0.0'), logLevel: 'silent' });
  handles.push(a);
  await a.ready;
  const b = await startNode({ me: `127.0.0.1:${p2}`, first, dataDir: join(dir, 'b'), app: counter('count', '1.0.0'), logLevel: 'silent' });
  handles.push(b);
  await b.ready;
  assert.equal(b.status().configStatus, 'member');

  const c = await startNode({ me: `127.0.0.1:${p3}`, first, dataDir: join(dir, 'c'), app: counter('count', '1.0.1'), logLevel: 'silent' });
  handles.push(c);
  await assert.rejects(c.ready, (err: unknown) => err instanceof JoinRefusedError && /count@1\.0\.1/.test(err.message) && /count@1\.0\.0/.test(err.message));
  assert.ok((await c.stopped) instanceof JoinRefusedError);
  assert.throws(() => c.status(), /stopped/);
  assert.deepEqual([...b.status().members].sort(), [first, `127.0.0.1:${p2}`].sort(), 'the refused node never became a member');

  await b.stop();
  assert.equal(await b.stopped, undefined, 'a stop by the caller');
});
