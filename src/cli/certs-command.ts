import { makeDevCerts, nodeFileStem } from './dev-certs.js';
import { type Command, UsageError, checkedAddress, fail, noMorePositionals, parse } from './args.js';

export const certsUsage = `  synod certs --dir DIR --nodes HOST:PORT[,HOST:PORT...] [--clients N] [--force]
  Makes development certificates for mutual TLS with the openssl command: a cluster CA and a
  client CA (cluster-ca.crt/.key, client-ca.crt/.key), a certificate per node naming its host in
  a subjectAltName (IP or DNS; node-HOST-PORT.crt/.key), and N client certificates (client-1 …,
  default 1). Keys are unencrypted EC P-256, mode 0600. Existing files are not overwritten
  without --force. For development and tests: a production cluster's certificates come from
  the operator's own CA.
  Exit status: 0 when written; 1 when a file exists (without --force) or openssl fails; 2 for
  usage errors.`;

async function runCerts(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    dir: { type: 'string' }, nodes: { type: 'string' }, clients: { type: 'string' }, force: { type: 'boolean' },
  });
  noMorePositionals(positionals, 0);
  const dir = values['dir'] as string | undefined;
  if (dir === undefined || dir === '') throw new UsageError('--dir is required');
  const list = values['nodes'] as string | undefined;
  if (list === undefined || list === '') throw new UsageError('--nodes is required (HOST:PORT[,HOST:PORT...])');
  const nodes = list.split(',').map((a) => checkedAddress(a, '--nodes'));
  const clientsText = (values['clients'] as string | undefined) ?? '1';
  if (!/^\d{1,4}$/.test(clientsText) || Number(clientsText) > 1000) throw new UsageError('--clients must be a whole number from 0 to 1000');
  try {
    makeDevCerts({ dir, nodes, clients: Number(clientsText), force: values['force'] === true });
  } catch (err) {
    return fail((err as Error).message, 1);
  }
  const lines = [
    `wrote certificates to ${dir}:`,
    '  cluster-ca.crt  the cluster CA: every node\'s --tls-ca, and every client\'s --tls-ca',
    '  client-ca.crt   the client CA: every node\'s --tls-client-ca (client authentication)',
    ...nodes.map((n) => `  ${nodeFileStem(n)}.crt/.key  --tls-cert/--tls-key of ${n}`),
    ...Array.from({ length: Number(clientsText) }, (_, i) => `  client-${i + 1}.crt/.key  a client's --tls-cert/--tls-key`),
    'the CA keys (*-ca.key) sign new certificates: keep them off the nodes',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export const certsCommand: Command = { name: 'certs', usage: certsUsage, run: runCerts };
