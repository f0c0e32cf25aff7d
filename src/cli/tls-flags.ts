/**
 * The TLS flags of `synod` commands: a node's (`--tls-cert --tls-key --tls-ca [--tls-client-ca]`)
 * and a client's (`--tls-ca [--tls-cert --tls-key]`). Without them everything is plaintext, which
 * is for tests and development only (docs/operating.md, "TLS").
 */
import type { ClientTlsFiles, TlsFiles } from '../runtime/tls-files.js';
import { type ClientTls, loadClientTls } from '../runtime/tls-files.js';
import { type OptionSpec, type OptionValues, UsageError, fail } from './args.js';

export const nodeTlsOptions: OptionSpec = {
  'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'tls-ca': { type: 'string' }, 'tls-client-ca': { type: 'string' },
};

export const clientTlsOptions: OptionSpec = { 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'tls-ca': { type: 'string' } };

export const nodeTlsUsage = `  --tls-cert FILE --tls-key FILE --tls-ca FILE turn on mutual TLS (PEM files): the node presents
  its certificate (signed by the cluster CA --tls-ca, naming the node's host in a subjectAltName)
  and takes peer messages only from certificates of the cluster CA naming the host they claim.
  --tls-client-ca FILE also requires clients to present a certificate of that (other) CA. Without
  --tls-* the node is plaintext and admits anyone: tests and development only. synod certs makes
  development certificates.`;

export const clientTlsUsage = `  --tls-ca FILE talks TLS to the nodes, checking their certificates against the cluster CA;
  --tls-cert FILE --tls-key FILE present a client certificate (nodes with --tls-client-ca need one).`;

const str = (values: OptionValues, flag: string): string | undefined => values[flag] as string | undefined;

/** The node's TLS files from its flags; none given: undefined. Some but not all of cert, key and CA: a usage error. */
export function nodeTlsFiles(values: OptionValues): TlsFiles | undefined {
  const cert = str(values, 'tls-cert');
  const key = str(values, 'tls-key');
  const ca = str(values, 'tls-ca');
  const clientCa = str(values, 'tls-client-ca');
  if (cert === undefined && key === undefined && ca === undefined && clientCa === undefined) return undefined;
  if (cert === undefined || key === undefined || ca === undefined) {
    throw new UsageError('TLS needs --tls-cert, --tls-key and --tls-ca together (--tls-client-ca adds client authentication)');
  }
  return clientCa === undefined ? { cert, key, ca } : { cert, key, ca, clientCa };
}

/** A client's TLS files from its flags; none given: undefined. A certificate without its key (or either without --tls-ca): a usage error. */
export function clientTlsFiles(values: OptionValues): ClientTlsFiles | undefined {
  const cert = str(values, 'tls-cert');
  const key = str(values, 'tls-key');
  const ca = str(values, 'tls-ca');
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (ca === undefined) throw new UsageError('--tls-cert and --tls-key need --tls-ca (the cluster CA, to check the nodes)');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  return cert === undefined || key === undefined ? { ca } : { ca, cert, key };
}

/** A client's TLS, read: a bad file ends the command (exit 1) naming it. */
export function clientTlsOf(values: OptionValues): ClientTls | undefined {
  const files = clientTlsFiles(values);
  if (files === undefined) return undefined;
  try {
    return loadClientTls(files);
  } catch (err) {
    return fail((err as Error).message, 1);
  }
}
