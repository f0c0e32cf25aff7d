import * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';
import type { X509Certificate } from 'node:crypto';
import type { ClientTls, NodeTls } from './tls-files.js';

/**
 * The gRPC credentials of mutual TLS (tls-files.ts), and the one rule about names: a node's
 * certificate names its host (the host part of its node id `host:port`) in a subjectAltName.
 */

/**
 * A node's server credentials: its certificate, and the CAs whose certificates it accepts from
 * the other side (the cluster CA, and the client CA when client auth is on).
 *
 * The server asks every connection for a certificate but does not refuse the handshake without
 * one (`rejectUnauthorized: false`): who may call what is decided per call (tls-auth.ts), which
 * can answer a typed status that says what was wrong and log it, where a failed handshake leaves
 * both sides with a bare "connection reset". grpc-js's `createSsl(…, true)` would refuse in the
 * handshake, and `createSsl(…, false)` would not ask for certificates at all; this subclass of
 * its public `ServerCredentials` constructor sets exactly the two Node TLS options needed.
 */
export function serverCredentials(tls: NodeTls): grpc.ServerCredentials {
  const ca = tls.clientCa === null ? tls.ca.pem : Buffer.concat([tls.ca.pem, Buffer.from('\n'), tls.clientCa.pem]);
  return new MutualTlsServerCredentials(ca, tls.cert.pem, tls.key);
}

class MutualTlsServerCredentials extends grpc.ServerCredentials {
  constructor(ca: Buffer, cert: Buffer, key: Buffer) {
    super({ requestCert: true, rejectUnauthorized: false }, { ca, cert, key });
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/**
 * Credentials to dial nodes with: the server must present a certificate of the cluster CA that
 * names the host dialled (Node's hostname check, DNS or IP subjectAltName); this side presents
 * its own certificate (a node's, or a client's when it has one).
 */
export function channelCredentials(tls: NodeTls | ClientTls): grpc.ChannelCredentials {
  if ('identity' in tls) {
    return tls.identity === null
      ? grpc.credentials.createSsl(tls.ca.pem)
      : grpc.credentials.createSsl(tls.ca.pem, tls.identity.key, tls.identity.cert.pem);
  }
  return grpc.credentials.createSsl(tls.ca.pem, tls.key, tls.cert.pem);
}

/** The host part of a node id or address (`host:port`, `[v6]:port`), brackets removed. */
export function hostOf(address: string): string {
  const colon = address.lastIndexOf(':');
  const host = colon < 0 ? address : address.slice(0, colon);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Whether `cert` names `host` in a subjectAltName (an IP entry for an IP, a DNS entry otherwise; never the subject's CN). */
export function certificateNames(cert: X509Certificate, host: string): boolean {
  if (isIP(host) !== 0) return cert.checkIP(host) !== undefined;
  return cert.checkHost(host, { subject: 'never' }) !== undefined;
}
