// The kv-store example works: its handlers answer as documented, it stays linearizable on the
// simulator under faults (synod/testkit), and it runs on real processes with `synod node --app-module`,
// where a node with another app is refused at join.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AppError, type Json } from '../../src/index.js';
import { type KvState, kvApp, maxValueBytes } from '../../examples/kv-store/kv-app.js';
import { testApp } from '../../src/apps/test-app.js';
import { type SeededRandom, simulateSeeds } from '../../tools/testkit/index.js';
import { NodeProcess, cliPath } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/examples
const mainScript = join(here, '..', '..', 'examples', 'kv-store', 'main.js');
const appModule = join(here, '..', '..', 'examples', 'kv-store', 'kv-app.js');

function call(state: KvState, proc: string, args: Json): Json {
  return kvApp.handlers[proc]!(state, args, { clientId: 'kv-test', internal: false });
}

function refusal(state: KvState, proc: string, args: Json): string {
  try {
    call(state, proc, args);
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  assert.fail(`${proc}(${JSON.stringify(args)}) was not refused`);
}

describe('the kv-store example app', () => {
  test('put, get, cas, list and delete answer with versions as documented', () => {
    const s = kvApp.initialState();
    assert.deepEqual(call(s, 'put', { key: 'a', value: 1 }), { version: 1 });
    assert.deepEqual(call(s, 'put', { key: 'a', value: 2 }), { version: 2 });
    assert.deepEqual(call(s, 'get', { key: 'a' }), { value: 2, version: 2 });
    assert.equal(call(s, 'get', { key: 'b' }), null);
    assert.deepEqual(call(s, 'cas', { key: 'a', expectedVersion: 2, value: 3 }), { version: 3 });
    assert.equal(refusal(s, 'cas', { key: 'a', expectedVersion: 2, value: 4 }), 'version-mismatch');
    assert.deepEqual(call(s, 'cas', { key: 'b', expectedVersion: 0, value: 'new' }), { version: 1 });
    assert.deepEqual(call(s, 'list', { prefix: '' }), [{ key: 'a', version: 3 }, { key: 'b', version: 1 }]);
    assert.deepEqual(call(s, 'delete', { key: 'a' }), { deleted: true });
    assert.deepEqual(call(s, 'delete', { key: 'a' }), { deleted: false });
  });

  test('bad input is refused with a code, and any string is a key (also __proto__ and constructor)', () => {
    const s = kvApp.initialState();
    assert.equal(refusal(s, 'put', { key: '', value: 1 }), 'bad-key');
    assert.equal(refusal(s, 'put', { key: 'k' }), 'bad-value');
    assert.equal(refusal(s, 'put', { key: 'k', value: 'x'.repeat(maxValueBytes) }), 'too-large');
    assert.equal(refusal(s, 'get', [1]), 'bad-args');
    for (const key of ['__proto__', 'constructor', 'toString']) {
      assert.equal(call(s, 'get', { key }), null);
      assert.deepEqual(call(s, 'put', { key, value: key }), { version: 1 });
      assert.deepEqual(call(s, 'get', { key }), { value: key, version: 1 });
    }
  });

  test('the state survives marshal and unmarshal, and equal states give equal bytes', () => {
    const a = kvApp.initialState();
    const b = kvApp.initialState();
    call(a, 'put', { key: 'x', value: 1 });
    call(a, 'put', { key: 'y', value: [true] });
    call(b, 'put', { key: 'y', value: [true] });
    call(b, 'put', { key: 'x', value: 1 });
    assert.deepEqual(kvApp.marshalState(a), kvApp.marshalState(b));
    const copy = kvApp.unmarshalState(kvApp.marshalState(a));
    assert.deepEqual(call(copy, 'get', { key: 'y' }), { value: [true], version: 1 });
  });

  test('on the simulator under faults, 20 seeds stay linearizable in one copy of the app (synod/testkit)', () => {
    const keys = ['a', 'b', '__proto__'];
    const nextCall = (rng: SeededRandom): { proc: string; args: Json } => {
      const key = rng.pick(keys);
      const draw = rng.between(0, 9);
      if (draw < 3) return { proc: 'get', args: { key } };
      if (draw < 6) return { proc: 'put', args: { key, value: rng.between(0, 99) } };
      if (draw < 8) return { proc: 'cas', args: { key, expectedVersion: rng.between(0, 3), value: draw } };
      return draw < 9 ? { proc: 'delete', args: { key } } : { proc: 'list', args: { prefix: '' } };
    };
    const lines: string[] = [];
    const report = simulateSeeds({ app: kvApp, nextCall, seeds: 20, log: (line) => lines.push(line) });
    assert.ok(report.ok, lines.join('\n'));
  });
});

describe('the kv-store example on real processes', () => {
  test('npm run example:kv-store runs three nodes with synod node --app-module and a session against them', async () => {
    // The example uses base, base + 2 and base + 4: take three free pairs in a row (the harness
    // hands pairs out in order, so they usually are; skip ahead when one was taken).
    let base: number | undefined;
    while (base === undefined) {
      const [p0, p1, p2] = await freePortPairs(3);
      if (p1 === p0! + 2 && p2 === p0! + 4) base = p0;
    }
    const r = spawnSync(process.execPath, [mainScript, '--base-port', String(base)], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^cas feature\/dark-mode at version 1 again → refused: version-mismatch/m);
    assert.match(r.stdout, /^list feature\/ → \[\{"key":"feature\/dark-mode","version":2\}\]$/m);
    assert.match(r.stdout, /^kv-store example done$/m);
  });

  test('a node running another app is refused at join, naming both apps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'synod-kv-join-'));
    const [kvPort, otherPort] = await freePortPairs(2);
    const first = `127.0.0.1:${kvPort}`;
    const kv = new NodeProcess({ port: kvPort!, first, dataDir: join(dir, 'kv'), logFile: join(dir, 'kv.log'), entry: [cliPath, 'node', '--app-module', appModule] });
    try {
      await kv.start();
      const other = spawnSync(process.execPath, [cliPath, 'node', '--app', 'test', '--me', `127.0.0.1:${otherPort}`, '--first', first,
        '--data-dir', join(dir, 'other'), '--log-level', 'silent'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(other.status, 1, other.stderr);
      assert.match(other.stderr, /kv@1\.0\.0/);
      assert.match(other.stderr, new RegExp(`test@${testApp.version.replaceAll('.', '\\.')}`));
    } finally {
      await kv.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
