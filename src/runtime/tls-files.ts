import { X509Certificate, type KeyObject, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Mutual TLS from PEM files. Without TLS every gRPC server and client of synod is plaintext and
 * unauthenticated: anyone who reaches a port is a peer. That is for tests and development only.
 *
 * Two certificate authorities: the cluster CA signs the nodes' certificates (each naming its
 * node's host in a subjectAltName, DNS or IP), and the client CA signs the clients'. A node tells
 * a peer from a client by the CA that issued its certificate, so a client certificate can never
 * speak the peer services. Keeping the client CA apart also lets an operator hand out client
 * certificates without the power to make nodes.
 */

/** The PEM files a node serves and dials with (`synod node --tls-cert --tls-key --tls-ca [--tls-client-ca]`). */
export interface TlsFiles {
  /** This node's certificate (PEM), signed by the cluster CA, naming its host (subjectAltName). */
  readonly cert: string;
  /** Its private key (PEM, unencrypted). */
  readonly key: string;
  /** The cluster CA's certificate (PEM): peers must present a certificate it signed. */
  readonly ca: string;
  /**
   * The client CA's certificate (PEM). Given: client auth is on, and a client call or stream
   * without a certificate signed by it (or by the cluster CA: nodes call each other's client
   * services) is refused UNAUTHENTICATED. Absent: clients need no certificate (the connection is
   * still encrypted and the node still proves who it is).
   */
  readonly clientCa?: string;
}

/** The PEM files a client dials with (`connect({ tls })`, `synod … --tls-cert --tls-key --tls-ca`). */
export interface ClientTlsFiles {
  /** The cluster CA's certificate: the nodes must present a certificate it signed naming the address dialled. */
  readonly ca: string;
  /** The client's certificate (signed by the client CA), needed when the nodes run with client auth. */
  readonly cert?: string;
  /** Its private key; given exactly when `cert` is. */
  readonly key?: string;
}

/** A PEM file that cannot serve: `file` names it, `reason` says what is wrong with it. */
export class TlsFileError extends Error {
  override readonly name = 'TlsFileError';
  constructor(readonly file: string, readonly reason: string) {
    super(`TLS: ${file}: ${reason}`);
  }
}

/** One certificate as read: its PEM bytes and its parsed form. */
export interface LoadedCertificate {
  readonly file: string;
  readonly pem: Buffer;
  readonly x509: X509Certificate;
}

/** A node's TLS material, read and checked (`loadNodeTls`). */
export interface NodeTls {
  readonly cert: LoadedCertificate;
  readonly key: Buffer;
  readonly ca: LoadedCertificate;
  /** Null: client auth is off. */
  readonly clientCa: LoadedCertificate | null;
}

/** A client's TLS material, read and checked (`loadClientTls`). */
export interface ClientTls {
  readonly ca: LoadedCertificate;
  /** Null: the client presents no certificate. */
  readonly identity: { readonly cert: LoadedCertificate; readonly key: Buffer } | null;
}

/**
 * Reads and checks a node's files: each readable and PEM, the key the certificate's, the
 * certificate signed by the cluster CA, each CA a CA. Throws `TlsFileError` naming the file.
 */
export function loadNodeTls(files: TlsFiles): NodeTls {
  const ca = readCa(files.ca, 'the cluster CA');
  const cert = readCertificate(files.cert);
  const key = readKey(files.key, cert);
  checkIssuedBy(cert, ca, 'the cluster CA');
  const clientCa = files.clientCa === undefined ? null : readCa(files.clientCa, 'the client CA');
  // A node tells peers from clients by the issuing CA: one CA for both would make every client a peer.
  if (clientCa !== null && clientCa.x509.fingerprint256 === ca.x509.fingerprint256) {
    throw new TlsFileError(clientCa.file, `the client CA must be another CA than the cluster CA (${ca.file}), or every client could act as a node`);
  }
  return { cert, key: key.pem, ca, clientCa };
}

/** Reads and checks a client's files, as `loadNodeTls` does (the certificate is not checked against a CA it does not know). */
export function loadClientTls(files: ClientTlsFiles): ClientTls {
  const ca = readCa(files.ca, 'the cluster CA');
  if ((files.cert === undefined) !== (files.key === undefined)) {
    const given = files.cert ?? files.key ?? '';
    throw new TlsFileError(given, `a client certificate and its key go together: ${files.cert === undefined ? 'the certificate' : 'the key'} is missing`);
  }
  if (files.cert === undefined || files.key === undefined) return { ca, identity: null };
  const cert = readCertificate(files.cert);
  const key = readKey(files.key, cert);
  return { ca, identity: { cert, key: key.pem } };
}

/** Whether `cert` was issued by `ca`: the names chain and the signature verifies (node:crypto). */
export function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

function readPem(file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TlsFileError(file, code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`);
  }
  if (!bytes.toString('latin1').includes('-----BEGIN ')) throw new TlsFileError(file, 'not a PEM file (no -----BEGIN line)');
  return bytes;
}

function readCertificate(file: string): LoadedCertificate {
  const pem = readPem(file);
  try {
    return { file, pem, x509: new X509Certificate(pem) };
  } catch (err) {
    throw new TlsFileError(file, `not a PEM certificate (${(err as Error).message})`);
  }
}

function readCa(file: string, what: string): LoadedCertificate {
  const loaded = readCertificate(file);
  if (!loaded.x509.ca) throw new TlsFileError(file, `${what} must be a CA certificate (basicConstraints CA:TRUE), this one is not`);
  return loaded;
}

function readKey(file: string, cert: LoadedCertificate): { pem: Buffer; key: KeyObject } {
  const pem = readPem(file);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new TlsFileError(file, `not an unencrypted PEM private key (${(err as Error).message})`);
  }
  if (!cert.x509.checkPrivateKey(key)) throw new TlsFileError(file, `this key does not match the certificate ${cert.file}`);
  return { pem, key };
}

function checkIssuedBy(cert: LoadedCertificate, ca: LoadedCertificate, what: string): void {
  if (!issuedBy(cert.x509, ca.x509)) {
    throw new TlsFileError(cert.file, `not signed by ${what} (${ca.file}, subject ${JSON.stringify(ca.x509.subject)}); it was issued by ${JSON.stringify(cert.x509.issuer)}`);
  }
}
