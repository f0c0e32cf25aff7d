// `synod kv …` as an operator runs it: the real CLI as processes against a real `synod node --app kv`
// process: every subcommand in human and JSON form, a transaction from a file and from standard input,
// a watch that prints events until Ctrl-C (exit 0), a lease kept alive by `lease keepalive` until
// Ctrl-C whose key then vanishes; bad input is exit 2 with usage, a refusal exit 1, never a stack trace.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, cliPath, eventually, killAll, sleep } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { runSynod } from '../../tools/harness/cli-run.js';
import { makeDevCerts } from '../../src/cli/dev-certs.js';

let root: string;
let nodes: NodeProcess[];
let members: string;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'synod-kv-cli-'));
  const [port] = await freePortPairs(1);
  nodes = [new NodeProcess({ port: port!, first: `127.0.0.1:${port}`, dataDir: join(root, 'n1'), logLevel: 'info' })];
  await nodes[0]!.start(['--app', 'kv']);
  members = nodes[0]!.address;
  await eventually(async () => ((await kv('status')).code === 0 ? true : undefined), 20_000, 'the kv node serves', 100);
});

after(async () => {
  await killAll(nodes);
  rmSync(root, { recursive: true, force: true });
});

const kv = (...args: string[]): ReturnType<typeof runSynod> => runSynod('kv', ...args, '--members', members);

/** A `synod kv` process of its own (for standard input and signals); collects its output. */
function startKv(args: string[], stdin?: string): { out: () => string; err: () => string; exit: Promise<number | null>; signal: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [cliPath, 'kv', ...args, '--members', members], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  if (stdin !== undefined) child.stdin.end(stdin);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => {
    clearTimeout(timer);
    resolve(code);
  }));
  return { out: () => out, err: () => err, exit, signal: (s) => void child.kill(s) };
}

const noStack = (text: string): void => assert.doesNotMatch(text, /\n\s+at /, `no stack trace in: ${text}`);

test('put, get, range, del, txn, compact and status print what the store answered', async () => {
  let r = await kv('put', 'app/color', 'blue');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^OK, revision 2\n$/);
  r = await kv('put', 'app/size', 'large', '--prev-kv');
  assert.match(r.stdout, /previous: none\nOK, revision 3/);
  r = await kv('get', 'app/color');
  assert.equal(r.stdout, 'app/color = blue  (version 1, created 2, modified 2)\n');
  r = await kv('get', 'app/color', '--json');
  assert.deepEqual(JSON.parse(r.stdout), { key: 'app/color', value: 'blue', createRevision: 2, modRevision: 2, version: 1, lease: 0 });
  r = await kv('get', 'app/missing');
  assert.deepEqual([r.code, r.stdout], [1, '']);
  assert.match(r.stderr, /no key "app\/missing"/);
  r = await kv('range', 'app/', '--prefix');
  assert.equal(r.stdout, 'app/color = blue  (version 1, created 2, modified 2)\napp/size = large  (version 1, created 3, modified 3)\n2 of 2 keys, store at revision 3\n');
  r = await kv('range', 'app/', '\\0', '--limit', '1', '--json');
  assert.deepEqual(JSON.parse(r.stdout).more, true);
  const file = join(root, 'txn.json');
  writeFileSync(file, JSON.stringify({ compare: [{ key: 'app/color', target: 'value', op: '=', value: 'blue' }], success: [{ put: { key: 'app/color', value: 'green' } }], failure: [] }));
  r = await kv('txn', '--file', file);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^succeeded \(success branch ran\), revision 4\n  1\. \{"put":\{\}\}\n$/);
  const piped = startKv(['txn', '--json'], JSON.stringify({ compare: [{ key: 'app/color', target: 'value', op: '=', value: 'blue' }], failure: [{ range: { key: 'app/color' } }] }));
  assert.equal(await piped.exit, 0, piped.err());
  assert.equal(JSON.parse(piped.out()).responses[0].range.kvs[0].value, 'green');
  r = await kv('del', 'app/', '--prefix', '--prev-kv');
  assert.match(r.stdout, /deleted: app\/color = green .*\ndeleted: app\/size = large .*\n2 keys deleted, revision 5\n$/);
  r = await kv('compact', '3');
  assert.equal(r.stdout, 'compacted through revision 3; store at revision 5\n');
  r = await kv('status', '--json');
  assert.deepEqual([JSON.parse(r.stdout).revision, JSON.parse(r.stdout).compactRevision], [5, 3]);
  // Refusals: exit 1, the store's code, no stack.
  r = await kv('get', 'app/color', '--rev', '2');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^synod: kv get: compacted: /);
  r = await kv('compact', '99');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /future-revision/);
  noStack(r.stderr);
});

test('bad input is exit 2 with the usage and no stack trace', async () => {
  for (const args of [['frobnicate'], ['put', 'k'], ['get', 'k', '--limit', '3'], ['range', 'a', 'b', 'c'], ['lease', 'grant', 'soon'], ['compact', '-1'], ['range', 'k', '--keys-only', '--count-only']]) {
    const r = await kv(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^synod: .*\nusage:\n  synod kv /);
    noStack(r.stderr);
  }
  const r = await runSynod('kv', 'status');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--members/);
  const bad = startKv(['txn'], '{"compare": [');
  assert.equal(await bad.exit, 2);
  assert.match(bad.err(), /kv txn: standard input is not JSON/);
  noStack(bad.err());
});

test('watch prints each change as it happens, from a revision, until Ctrl-C (exit 0)', async () => {
  const from = JSON.parse((await kv('status', '--json')).stdout).revision + 1;
  await kv('put', 'w/early', '1'); // at `from`: the watch starts there, so it sees it
  const human = startKv(['watch', 'w/', '--prefix', '--from', String(from), '--prev-kv']);
  const json = startKv(['watch', 'w/late', '--json']);
  // It says so once it knows the store's revision: every later write is its.
  await eventually(async () => (/^watching \{"key":"w\/late"\} from revision \d+ until Ctrl-C\n$/.test(json.err()) ? true : undefined), 15_000, `the JSON watch started (${json.err()})`);
  await kv('put', 'w/late', '2');
  await kv('del', 'w/early');
  await eventually(async () => (human.out().split('\n').length >= 4 && json.out().length > 0 ? true : undefined), 15_000, `events printed (${human.out()})`);
  human.signal('SIGINT');
  json.signal('SIGINT');
  assert.equal(await human.exit, 0, human.err());
  assert.equal(await json.exit, 0, json.err());
  assert.equal(human.out(), `${from} PUT w/early = 1\n${from + 1} PUT w/late = 2\n${from + 2} DELETE w/early  (was 1)\n`);
  assert.deepEqual(JSON.parse(json.out()), { type: 'put', revision: from + 1, kv: { key: 'w/late', value: '2', createRevision: from + 1, modRevision: from + 1, version: 1, lease: 0 } });
});

test('lease grant, ttl, list, keepalive until Ctrl-C, then the key vanishes; revoke', async () => {
  let r = await kv('lease', 'grant', '3', '--json');
  assert.equal(r.code, 0, r.stderr);
  const { id } = JSON.parse(r.stdout) as { id: number };
  // The keeper starts at once: a process start and a connect must come within the TTL.
  const keeper = startKv(['lease', 'keepalive', String(id)]);
  await eventually(async () => (/keeping lease/.test(keeper.out()) ? true : undefined), 15_000, `the keeper runs (${keeper.err()})`);
  r = await kv('put', 'eph/me', 'here', '--lease', String(id));
  assert.equal(r.code, 0, r.stderr);
  await sleep(7000); // more than two TTLs
  assert.equal((await kv('get', 'eph/me')).code, 0, 'the key stays while the keepalive runs');
  r = await kv('lease', 'ttl', String(id), '--keys');
  assert.match(r.stdout, new RegExp(`^lease ${id}: granted TTL 3 s, \\d+ keepalives\\nkeys: eph/me\\n$`));
  r = await kv('lease', 'list');
  assert.match(r.stdout, new RegExp(`lease ${id}  TTL 3 s\\n`));
  keeper.signal('SIGINT');
  assert.equal(await keeper.exit, 0, keeper.err());
  assert.match(keeper.out(), /^keeping lease \d+ \(TTL 3 s\) alive every 1000 ms until Ctrl-C\nstopped after \d+ keepalives/);
  await eventually(async () => ((await kv('get', 'eph/me')).code === 1 ? true : undefined), 10_000, 'the key vanishes after the TTL', 200);
  r = await kv('lease', 'keepalive', String(id));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /lease-not-found/);
  r = await kv('lease', 'grant', '60');
  const second = Number(/lease (\d+) granted/.exec(r.stdout)![1]);
  await kv('put', 'eph/a', '1', '--lease', String(second));
  r = await kv('lease', 'revoke', String(second));
  assert.match(r.stdout, new RegExp(`^lease ${second} revoked: 1 keys deleted, revision \\d+\\n$`));
});

test('over mutual TLS, kv commands take the client TLS flags; without them the node is not reached', async () => {
  const [port] = await freePortPairs(1);
  const address = `127.0.0.1:${port}`;
  const certs = makeDevCerts({ dir: join(root, 'certs'), nodes: [address], clients: 1 });
  const node = new NodeProcess({ port: port!, first: address, dataDir: join(root, 'tls-n1'), logLevel: 'info', tls: certs });
  nodes.push(node);
  await node.start(['--app', 'kv']);
  const client = certs.client(1);
  const tls = ['--members', address, '--tls-ca', client.ca, '--tls-cert', client.cert, '--tls-key', client.key];
  await eventually(async () => ((await runSynod('kv', 'status', ...tls)).code === 0 ? true : undefined), 20_000, 'the TLS kv node serves', 100);
  let r = await runSynod('kv', 'put', 'secret', 'kept', ...tls);
  assert.equal(r.code, 0, r.stderr);
  r = await runSynod('kv', 'get', 'secret', '--json', ...tls);
  assert.equal(JSON.parse(r.stdout).value, 'kept');
  r = await runSynod('kv', 'get', 'secret', '--members', address);
  assert.equal(r.code, 1, 'plaintext does not reach a TLS node');
  noStack(r.stderr);
});
