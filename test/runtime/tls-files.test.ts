// Reading TLS files: every way a file can be wrong is a TlsFileError naming that file and what is
// wrong with it, before a node binds or a client dials.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DevCerts, makeDevCerts } from '../../src/cli/dev-certs.js';
import { TlsFileError, loadClientTls, loadNodeTls } from '../../src/runtime/tls-files.js';

const dir = mkdtempSync(join(tmpdir(), 'synod-tls-files-'));
let ours: DevCerts;
let theirs: DevCerts;
before(() => {
  ours = makeDevCerts({ dir: join(dir, 'ours'), nodes: ['127.0.0.1:7001', 'node2.example:7002'], clients: 1 });
  theirs = makeDevCerts({ dir: join(dir, 'theirs'), nodes: ['127.0.0.1:7001'], clients: 0 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function refused(fn: () => unknown, file: string, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TlsFileError, String(err));
    assert.equal(err.file, file);
    assert.match(err.reason, reason);
    assert.ok(err.message.includes(file), 'the message names the file');
    return true;
  });
}

test('files made by makeDevCerts load for a node (with client auth) and for a client', () => {
  const node = loadNodeTls(ours.node('127.0.0.1:7001'));
  assert.ok(node.clientCa !== null);
  assert.equal(node.cert.x509.subjectAltName, 'IP Address:127.0.0.1');
  assert.equal(loadNodeTls(ours.node('node2.example:7002')).cert.x509.subjectAltName, 'DNS:node2.example');
  assert.ok(loadClientTls(ours.client(1)).identity !== null);
  assert.equal(loadClientTls({ ca: ours.clusterCa }).identity, null);
});

test('a missing, unreadable or non-PEM file is named', () => {
  const files = ours.node('127.0.0.1:7001');
  const missing = join(dir, 'nope.crt');
  refused(() => loadNodeTls({ ...files, cert: missing }), missing, /no such file/);
  refused(() => loadNodeTls({ ...files, key: dir }), dir, /cannot read it \(EISDIR\)/);
  const text = join(dir, 'text.pem');
  writeFileSync(text, 'hello, not a certificate\n');
  refused(() => loadNodeTls({ ...files, ca: text }), text, /not a PEM file/);
  const garbled = join(dir, 'garbled.pem');
  writeFileSync(garbled, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  refused(() => loadNodeTls({ ...files, cert: garbled }), garbled, /not a PEM certificate/);
  refused(() => loadNodeTls({ ...files, key: files.cert }), files.cert, /not an unencrypted PEM private key/);
});

test('a key of another certificate, a certificate of another CA, a leaf as CA, and one CA for both roles are refused', () => {
  const files = ours.node('127.0.0.1:7001');
  const other = ours.node('node2.example:7002');
  refused(() => loadNodeTls({ ...files, key: other.key }), other.key, new RegExp(`does not match the certificate ${files.cert}`));
  const stranger = theirs.node('127.0.0.1:7001');
  refused(() => loadNodeTls({ ...files, cert: stranger.cert, key: stranger.key }), stranger.cert, /not signed by the cluster CA/);
  refused(() => loadNodeTls({ ...files, ca: other.cert }), other.cert, /must be a CA certificate/);
  refused(() => loadNodeTls({ ...files, clientCa: files.ca }), files.ca, /client CA must be another CA than the cluster CA/);
  const client = ours.client(1);
  refused(() => loadClientTls({ ca: client.ca, cert: client.cert }), client.cert, /the key is missing/);
  refused(() => loadClientTls({ ...client, key: other.key }), other.key, /does not match/);
});

test('makeDevCerts refuses to overwrite without force, and replaces everything with it', () => {
  const target = join(dir, 'again');
  const first = makeDevCerts({ dir: target, nodes: ['127.0.0.1:7001'] });
  assert.throws(() => makeDevCerts({ dir: target, nodes: ['127.0.0.1:7001'] }), /refusing to overwrite .*cluster-ca\.crt.*--force/);
  const before = loadNodeTls(first.node('127.0.0.1:7001')).ca.x509.fingerprint256;
  const second = makeDevCerts({ dir: target, nodes: ['127.0.0.1:7001'], force: true });
  assert.notEqual(loadNodeTls(second.node('127.0.0.1:7001')).ca.x509.fingerprint256, before, 'a new CA');
});
