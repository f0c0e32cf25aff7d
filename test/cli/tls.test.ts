// `synod certs` and the TLS flags as an operator uses them, with real processes: certs writes a CA
// pair and certificates and will not overwrite them; three `synod lock-server` processes run with
// --tls-*; `synod status` and `synod control` reach them with a client certificate and are refused
// without one; a bad file stops a node at start, naming the file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess, cliPath, killAll } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { runSynod } from '../../tools/harness/cli-run.js';
import { devCertsIn } from '../../src/cli/dev-certs.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import * as grpc from '@grpc/grpc-js';
import { RpcError, UnaryClient } from '../../src/runtime/grpc-client.js';
import { channelCredentials } from '../../src/runtime/tls-credentials.js';
import { loadClientTls } from '../../src/runtime/tls-files.js';
import { controlService } from '../../src/node/control-server.js';

describe('synod certs and TLS flags with real processes', () => {
  let root: string;
  let nodes: NodeProcess[] = [];
  let ids: string[];

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-cli-tls-'));
    const ports = await freePortPairs(3);
    ids = ports.map((p) => `127.0.0.1:${p}`);
  });
  after(async () => {
    await killAll(nodes);
    rmSync(root, { recursive: true, force: true });
  });

  test('synod certs writes the CAs, a certificate per node and the clients, and refuses to overwrite without --force', async () => {
    const dir = join(root, 'certs');
    const made = await runSynod('certs', '--dir', dir, '--nodes', ids.join(','), '--clients', '2');
    assert.equal(made.code, 0, made.stderr);
    const certs = devCertsIn(dir);
    for (const f of [certs.clusterCa, certs.clientCa, certs.node(ids[0]!).cert, certs.node(ids[2]!).key, certs.client(2).cert]) assert.ok(existsSync(f), f);
    assert.equal(statSync(certs.node(ids[1]!).key).mode & 0o777, 0o600, 'keys are private');
    assert.match(made.stdout, /--tls-cert\/--tls-key of 127\.0\.0\.1:/);
    const again = await runSynod('certs', '--dir', dir, '--nodes', ids.join(','));
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refusing to overwrite .*cluster-ca\.crt.*--force/);
    const usage = await runSynod('certs', '--dir', dir);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--nodes is required/);
  });

  test('lock-server nodes with TLS form a cluster; status and control work with a client certificate and are refused without', async () => {
    const certs = devCertsIn(join(root, 'certs'));
    nodes = ids.map((address, i) => new NodeProcess({
      port: Number(address.split(':')[1]), first: ids[0]!, dataDir: join(root, `n${i + 1}`), logLevel: 'info',
      entry: [cliPath, 'lock-server'], tls: certs,
    }));
    for (const n of nodes) await n.start();
    const client = certs.client(1);
    const tlsFlags = ['--tls-ca', client.ca, '--tls-cert', client.cert, '--tls-key', client.key];
    const deadline = Date.now() + 20_000;
    let status = await runSynod('status', ids[2]!, '--json', ...tlsFlags);
    while (Date.now() < deadline && !(status.code === 0 && (JSON.parse(status.stdout) as { members: string[] }).members.length === 3)) {
      await new Promise((r) => setTimeout(r, 200));
      status = await runSynod('status', ids[2]!, '--json', ...tlsFlags);
    }
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual([...(JSON.parse(status.stdout) as { members: string[] }).members].sort(), [...ids].sort());

    const anonymous = await runSynod('status', ids[0]!, '--tls-ca', client.ca);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /UNAUTHENTICATED|client authentication/);
    const plaintext = await runSynod('status', ids[0]!);
    assert.equal(plaintext.code, 1);

    const healed = await runSynod('control', nodes[1]!.controlAddress, '--cluster', defaultClusterName(ids[0]!), ...tlsFlags, 'partition', '0');
    assert.equal(healed.code, 0, healed.stderr);
    assert.match(healed.stdout, /healed/);

    // The control service itself: a caller without a certificate is refused before anything runs.
    const bare = new UnaryClient(controlService, nodes[1]!.controlAddress, {}, channelCredentials(loadClientTls({ ca: client.ca })));
    try {
      await assert.rejects(bare.call('PaxosStatus', { cluster: defaultClusterName(ids[0]!) }, 5000),
        (err: unknown) => err instanceof RpcError && err.code === grpc.status.UNAUTHENTICATED && /control service .* takes calls only from a certificate/.test(err.details));
    } finally {
      bare.close();
    }

    const halfFlags = await runSynod('status', ids[0]!, '--tls-cert', client.cert);
    assert.equal(halfFlags.code, 2, 'a certificate without --tls-ca is a usage error');
  });

  test('a node given a key that is not its certificate\'s refuses to start and names the file', async () => {
    const certs = devCertsIn(join(root, 'certs'));
    const [port] = await freePortPairs(1);
    const me = `127.0.0.1:${port}`;
    const other = certs.node(ids[0]!);
    const run = await runSynod('node', '--me', me, '--first', me, '--data-dir', join(root, 'bad'), '--log-level', 'silent',
      '--tls-cert', other.cert, '--tls-key', certs.client(1).key, '--tls-ca', other.ca);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`TLS: ${certs.client(1).key.replace(/[.]/g, '\\.')}: this key does not match the certificate`));
  });
});
