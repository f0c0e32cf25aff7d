/**
 * `npm run example:kv-store`: three nodes of the key-value store, started with the `synod` command
 * (`synod node --app-module …`), and a short session with the store's typed client. Ctrl-C or the
 * end of the session stops the nodes and removes their data directories.
 *
 *   node dist/examples/kv-store/main.js [--base-port PORT]     (default 7101: ports 7101, 7103, 7105)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AppRejectedError } from 'synod';
import { KvClient } from './kv-client.js';

const { values } = parseArgs({ options: { 'base-port': { type: 'string', default: '7101' } } });
const basePort = Number(values['base-port']);
if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65_000) {
  console.error('--base-port must be a port number between 1024 and 65000');
  process.exit(2);
}

// The `synod` command of the installed package (here: this repository's own build).
const require = createRequire(import.meta.url);
const packageJson = require.resolve('synod/package.json');
const synod = join(dirname(packageJson), (JSON.parse(readFileSync(packageJson, 'utf8')) as { bin: { synod: string } }).bin.synod);
const appModule = join(dirname(fileURLToPath(import.meta.url)), 'kv-app.js');

const members = [0, 2, 4].map((k) => `127.0.0.1:${basePort + k}`);
const first = members[0]!;
const dataRoot = mkdtempSync(join(tmpdir(), 'synod-kv-'));
const nodes: ChildProcess[] = [];

/** Stops every node (SIGTERM: a clean stop), waits for them to exit, removes their data. */
async function stopAll(): Promise<void> {
  await Promise.all(nodes.map((n) => new Promise((resolve) => {
    if (n.exitCode !== null || n.signalCode !== null) return resolve(null);
    n.once('exit', resolve);
    n.kill('SIGTERM');
  })));
  rmSync(dataRoot, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  void stopAll().then(() => process.exit(130));
});

for (const [i, me] of members.entries()) {
  const args = [synod, 'node', '--app-module', appModule, '--me', me, '--first', first, '--data-dir', join(dataRoot, `n${i + 1}`), '--log-level', 'warn'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  child.once('exit', (code, signal) => {
    if (signal !== 'SIGTERM' && code !== 0) console.error(`node ${me} exited (${code ?? signal})`);
  });
  nodes.push(child);
  console.log(`started ${me}: synod node --app-module kv-app.js --me ${me} --first ${first}`);
}

try {
  const kv = await KvClient.connect({ members });
  console.log(`connected to ${members.join(', ')}`);
  console.log(`put feature/dark-mode → version ${await kv.put('feature/dark-mode', { enabled: false })}`);
  console.log(`put feature/search → version ${await kv.put('feature/search', { enabled: true })}`);
  const current = await kv.get('feature/dark-mode');
  console.log(`get feature/dark-mode → ${JSON.stringify(current)}`);
  console.log(`cas feature/dark-mode at version 1 → version ${await kv.compareAndSet('feature/dark-mode', 1, { enabled: true })}`);
  try {
    await kv.compareAndSet('feature/dark-mode', 1, { enabled: false });
  } catch (err) {
    if (!(err instanceof AppRejectedError)) throw err;
    console.log(`cas feature/dark-mode at version 1 again → refused: ${err.code} (${err.detail})`);
  }
  console.log(`list feature/ → ${JSON.stringify(await kv.list('feature/'))}`);
  console.log(`delete feature/search → ${await kv.delete('feature/search')}`);
  console.log(`list feature/ → ${JSON.stringify(await kv.list('feature/'))}`);
  await kv.close();
  console.log('kv-store example done');
} finally {
  await stopAll();
}
