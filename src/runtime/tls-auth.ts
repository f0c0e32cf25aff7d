import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import { tlsLimits } from '../options.js';
import { certificateNames, hostOf } from './tls-credentials.js';
import { type NodeTls, issuedBy } from './tls-files.js';

/** What a server call exposes about its connection (every grpc-js server call has both). */
export type AuthenticatedCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getPeer' | 'getAuthContext'>;

/** A refusal of the caller's identity: its status and the text the caller reads. */
export interface AuthRefusal {
  readonly ok: false;
  readonly code: grpc.status;
  readonly details: string;
}

/**
 * A peer admitted by its certificate (or any caller, without TLS): the sender ids its messages
 * may claim are checked against the certificate by `claims`. `cert` null: plaintext, no check.
 */
export interface PeerCaller {
  readonly ok: true;
  readonly cert: X509Certificate | null;
  /** The caller's address (for log lines). */
  readonly address: string;
  /** Sender ids already checked against `cert` (at most `maxCheckedClaimsPerCaller`): the verdict. */
  readonly checked: Map<NodeId, boolean>;
}

type Issuer = 'cluster' | 'client' | 'unknown';

/**
 * What a refusal says when the connection has no certificate that verified: grpc-js exposes the
 * peer's certificate only once it verified, so these cases cannot be told apart here.
 */
const unverified = 'this connection presented none, or one that does not verify against it (another CA, expired, not yet valid)';

/**
 * Who may call what on a node with mutual TLS (tls-files.ts): the per-call half of it, the
 * handshake half being `serverCredentials`.
 * - Peer services (the channels' `Deliver`, `synod.peer.Peer/Stream`): only a certificate signed
 *   by the cluster CA (else UNAUTHENTICATED; a client CA's: PERMISSION_DENIED), and each message's
 *   `from` must be a node id whose host the certificate names (else PERMISSION_DENIED).
 * - Client services (calls, call streams, server streams): with client auth on, a certificate of
 *   the client CA or the cluster CA (nodes call each other's client services); else UNAUTHENTICATED.
 *   With client auth off, anyone (over TLS).
 * Each refusal is logged at warn once per caller host and reason, then at most once per
 * `refusalLogIntervalMs` with a count. Without TLS (`tls` null) everything is admitted.
 */
export class TlsAuth {
  readonly #tls: NodeTls | null;
  readonly #self: NodeId;
  readonly #log: Logger;
  /** Parsed certificates by fingerprint, least recently added first (bounded). */
  readonly #certs = new Map<string, { x509: X509Certificate; issuer: Issuer }>();
  /** Refusal log keys: when last logged and how many were refused since. */
  readonly #logged = new Map<string, { at: number; since: number }>();

  constructor(tls: NodeTls | null, self: NodeId, log: Logger) {
    this.#tls = tls;
    this.#self = self;
    this.#log = log;
  }

  get enabled(): boolean {
    return this.#tls !== null;
  }

  /** Admits a call or stream of a peer service by its certificate's issuer (see the class comment). */
  peer(call: AuthenticatedCall, service: string): PeerCaller | AuthRefusal {
    const address = call.getPeer();
    if (this.#tls === null) return { ok: true, cert: null, address, checked: new Map() };
    const cert = this.#certificate(call);
    if (cert === null) {
      return this.#refuse(address, service, 'no-certificate', grpc.status.UNAUTHENTICATED,
        `${this.#self} takes peer messages only from a certificate signed by the cluster CA; ${unverified}`);
    }
    if (cert.issuer !== 'cluster') {
      return this.#refuse(address, service, 'client-certificate', grpc.status.PERMISSION_DENIED,
        `certificate ${JSON.stringify(cert.x509.subject)} was not issued by the cluster CA (issuer ${JSON.stringify(cert.x509.issuer)}): ` +
        `only nodes may use ${service}`);
    }
    return { ok: true, cert: cert.x509, address, checked: new Map() };
  }

  /** Checks that `caller`'s certificate names the host of `from`, the sender id a message claims. */
  claims(caller: PeerCaller, from: NodeId, service: string): AuthRefusal | null {
    if (caller.cert === null) return null;
    let named = caller.checked.get(from);
    if (named === undefined) {
      named = certificateNames(caller.cert, hostOf(from));
      if (caller.checked.size >= tlsLimits.maxCheckedClaimsPerCaller) caller.checked.clear();
      caller.checked.set(from, named);
    }
    if (named) return null;
    return this.#refuse(caller.address, service, `misnamed ${from}`, grpc.status.PERMISSION_DENIED,
      `message claims to be from ${from}, but the sender's certificate (${JSON.stringify(caller.cert.subject)}, ` +
      `names ${caller.cert.subjectAltName ?? 'none'}) does not name ${JSON.stringify(hostOf(from))}`);
  }

  /** Admits a client call or stream (see the class comment); null when admitted. */
  client(call: AuthenticatedCall, service: string): AuthRefusal | null {
    if (this.#tls === null || this.#tls.clientCa === null) return null;
    const cert = this.#certificate(call);
    if (cert !== null && cert.issuer !== 'unknown') return null;
    return this.#refuse(call.getPeer(), service, 'no-client-certificate', grpc.status.UNAUTHENTICATED,
      `${this.#self} runs with client authentication: present a certificate signed by the client CA; ${unverified}`);
  }

  /**
   * Admits a call of the test control service (partition, crash breakpoints, propose): with TLS,
   * always a certificate of the cluster CA or the client CA, client auth on or not, since whoever
   * holds it can isolate or kill the node. Null when admitted.
   */
  operator(call: AuthenticatedCall, service: string): AuthRefusal | null {
    if (this.#tls === null) return null;
    const cert = this.#certificate(call);
    if (cert !== null && cert.issuer !== 'unknown') return null;
    return this.#refuse(call.getPeer(), service, 'no-operator-certificate', grpc.status.UNAUTHENTICATED,
      `the control service of ${this.#self} takes calls only from a certificate signed by the cluster CA or the client CA; ${unverified}`);
  }

  /** The connection's certificate, when it passed the handshake's chain check against our CAs. */
  #certificate(call: AuthenticatedCall): { x509: X509Certificate; issuer: Issuer } | null {
    const tls = this.#tls;
    const peer = call.getAuthContext()?.sslPeerCertificate;
    if (tls === null || peer === undefined || !Buffer.isBuffer(peer.raw)) return null;
    const key = peer.fingerprint256;
    const cached = this.#certs.get(key);
    if (cached !== undefined) return cached;
    const x509 = new X509Certificate(peer.raw);
    const issuer: Issuer = issuedBy(x509, tls.ca.x509) ? 'cluster'
      : tls.clientCa !== null && issuedBy(x509, tls.clientCa.x509) ? 'client' : 'unknown';
    const parsed = { x509, issuer };
    if (this.#certs.size >= tlsLimits.maxCachedCertificates) this.#certs.delete(this.#certs.keys().next().value as string);
    this.#certs.set(key, parsed);
    return parsed;
  }

  #refuse(address: string, service: string, reason: string, code: grpc.status, details: string): AuthRefusal {
    const key = `${hostOf(address)} ${reason}`;
    const now = performance.now();
    const last = this.#logged.get(key);
    if (last === undefined || now - last.at >= tlsLimits.refusalLogIntervalMs) {
      const fields = { client: address, service, code: grpc.status[code], details, refusedSinceLastLine: last?.since ?? 0 };
      this.#log.warn(fields, 'tls: caller refused');
      if (last === undefined && this.#logged.size >= tlsLimits.maxRefusalLogKeys) this.#logged.delete(this.#logged.keys().next().value as string);
      this.#logged.set(key, { at: now, since: 0 });
    } else {
      last.since++;
    }
    return { ok: false, code, details };
  }
}
