/**
 * Development certificates for mutual TLS (`synod certs`): a cluster CA, a client CA, one
 * certificate per node naming its host (an IP or DNS subjectAltName), and client certificates.
 *
 * Made with Debian's `openssl` command (OpenSSL 3) through child_process rather than an npm
 * package: it is on every Debian image, maintained with security updates by the distribution, and
 * adds no dependency to synod. Keys are EC P-256 (fast to make, small), unencrypted, mode 0600.
 * These are for development and tests: a production cluster's CA belongs in the operator's PKI.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { NodeId } from '../env/types.js';
import { hostOf } from '../runtime/tls-credentials.js';
import type { ClientTlsFiles, TlsFiles } from '../runtime/tls-files.js';

/** Validity of the CAs: ten years, so a development setup never expires under its user. */
const caValidityDays = 3650;
/** Validity of node and client certificates: 825 days, the longest browsers and most tools accept. */
const leafValidityDays = 825;

export interface DevCertsRequest {
  /** Where the files go (created if missing). */
  readonly dir: string;
  /** The nodes (`host:port`); each gets a certificate naming its host. */
  readonly nodes: readonly NodeId[];
  /** How many client certificates to make (`client-1` …). Default 1. */
  readonly clients?: number;
  /** Overwrite files that exist. Default false: an existing file refuses the whole run before anything is written. */
  readonly force?: boolean;
}

/** The files `makeDevCerts` wrote, by role. */
export interface DevCerts {
  readonly dir: string;
  readonly clusterCa: string;
  readonly clientCa: string;
  /** A node's files, with client auth on (`clientCa` set). */
  node(id: NodeId): TlsFiles;
  /** Client `n`'s files (1-based). */
  client(n: number): Required<ClientTlsFiles>;
  /** Every file written. */
  readonly files: readonly string[];
}

/** A file name part for a node id: `127.0.0.1:7001` → `127.0.0.1-7001` (IPv6 colons too). */
export function nodeFileStem(id: NodeId): string {
  return `node-${id.replace(/[[\]]/g, '').replace(/[:/\\]/g, '-')}`;
}

/** The subjectAltName entry for a host: `IP:` for an address, `DNS:` for a name. */
function sanOf(host: string): string {
  return isIP(host) !== 0 ? `IP:${host}` : `DNS:${host}`;
}

/** What `makeDevCerts` would write, in order (CAs first), with what each holds. */
function plan(request: DevCertsRequest): { stem: string; subject: string; kind: 'ca' | 'node' | 'client'; san?: string; signer?: string }[] {
  const clients = request.clients ?? 1;
  if (!Number.isSafeInteger(clients) || clients < 0 || clients > 1000) throw new RangeError(`clients must be a whole number from 0 to 1000, got ${clients}`);
  const items: ReturnType<typeof plan> = [
    { stem: 'cluster-ca', subject: '/CN=synod cluster CA', kind: 'ca' },
    { stem: 'client-ca', subject: '/CN=synod client CA', kind: 'ca' },
  ];
  for (const id of new Set(request.nodes)) {
    const host = hostOf(id);
    if (host.length === 0 || id.lastIndexOf(':') < 0) throw new RangeError(`a node must be host:port, got ${JSON.stringify(id)}`);
    items.push({ stem: nodeFileStem(id), subject: `/CN=${host}`, kind: 'node', san: sanOf(host), signer: 'cluster-ca' });
  }
  for (let n = 1; n <= clients; n++) items.push({ stem: `client-${n}`, subject: `/CN=synod client ${n}`, kind: 'client', signer: 'client-ca' });
  return items;
}

/**
 * Makes the CAs and certificates of `request` in `request.dir`: `cluster-ca.{crt,key}`,
 * `client-ca.{crt,key}`, `node-<host>-<port>.{crt,key}` per node, `client-<n>.{crt,key}`.
 * Refuses (before writing anything) when a file exists and `force` is not set. Throws when
 * `openssl` is missing or fails, with its error output.
 */
export function makeDevCerts(request: DevCertsRequest): DevCerts {
  const items = plan(request);
  const { dir } = request;
  const files = items.flatMap((i) => [join(dir, `${i.stem}.crt`), join(dir, `${i.stem}.key`)]);
  if (request.force !== true) {
    const existing = files.filter((f) => existsSync(f));
    if (existing.length > 0) throw new Error(`refusing to overwrite ${existing.join(', ')} (give --force to replace them)`);
  }
  mkdirSync(dir, { recursive: true });
  // A minimal openssl config of our own: the system's may add extensions (a leaf marked CA:TRUE).
  const scratch = mkdtempSync(join(tmpdir(), 'synod-certs-'));
  try {
    const config = join(scratch, 'openssl.cnf');
    writeFileSync(config, '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n');
    for (const item of items) {
      const crt = join(dir, `${item.stem}.crt`);
      const key = join(dir, `${item.stem}.key`);
      if (request.force === true) rmSync(key, { force: true });
      const args = ['req', '-config', config, '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', key, '-out', crt, '-subj', item.subject];
      if (item.kind === 'ca') {
        args.push('-days', String(caValidityDays), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
      } else {
        args.push('-days', String(leafValidityDays), '-CA', join(dir, `${item.signer!}.crt`), '-CAkey', join(dir, `${item.signer!}.key`),
          '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature',
          // A node is a server to its peers and clients and a client to its peers; a client only a client.
          '-addext', `extendedKeyUsage=${item.kind === 'node' ? 'serverAuth,clientAuth' : 'clientAuth'}`);
        if (item.san !== undefined) args.push('-addext', `subjectAltName=${item.san}`);
      }
      openssl(args);
      chmodSync(key, 0o600);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return devCertsIn(dir, files);
}

/** The files of a directory `makeDevCerts` filled (no check that they exist). */
export function devCertsIn(dir: string, files: readonly string[] = []): DevCerts {
  const clusterCa = join(dir, 'cluster-ca.crt');
  const clientCa = join(dir, 'client-ca.crt');
  return {
    dir,
    clusterCa,
    clientCa,
    files,
    node: (id) => ({ cert: join(dir, `${nodeFileStem(id)}.crt`), key: join(dir, `${nodeFileStem(id)}.key`), ca: clusterCa, clientCa }),
    client: (n) => ({ cert: join(dir, `client-${n}.crt`), key: join(dir, `client-${n}.key`), ca: clusterCa }),
  };
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('synod certs needs the openssl command (Debian: apt-get install openssl)');
    throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
}
