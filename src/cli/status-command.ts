import { isServing } from '../node/status.js';
import { clientTlsOf, clientTlsOptions, clientTlsUsage } from './tls-flags.js';
import { type Command, checkedAddress, clusterOption, fail, noMorePositionals, parse } from './args.js';

/** Exit status of `synod status` when the node answered but does not serve (it is still printed). */
export const notServingExitCode = 3;

export const statusUsage = `  synod status HOST:PORT [--json] [--cluster NAME] [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]
  Shows what the node at HOST:PORT (its own port) believes, through its node service: node,
  member (its id in views: address@disk id; a wiped data directory gets a new disk id),
  incarnation, app (name@version), view and members (member ids: as the view lists them),
  primary, config and replica status, last
  executed viewstamp, completeness, and the newest views it knows (at most 32). --json prints the status object
  (NodeStatus, src/node/status.ts) as JSON. Without --cluster, the call first names the cluster
  synod@HOST:PORT and, if the node refuses it as another cluster's, asks once more with the
  name the node gave in its refusal; with --cluster, a refusal is an error.
${clientTlsUsage}
  Exit status (a health check): 0 when the node serves (with an app: a normal replica, member of
  a view that is not refusing; without an app: a member of a view); 3 when it answered but does
  not serve (the status is printed all the same); 1 when it cannot be reached or refuses the
  call; 2 for usage errors.`;

/** `synod status`. */
async function runStatus(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, cluster: { type: 'string' }, ...clientTlsOptions });
  const node = checkedAddress(positionals[0], 'the node\'s address (HOST:PORT)');
  noMorePositionals(positionals, 1);
  const cluster = clusterOption(values['cluster'] as string | undefined);
  const tls = clientTlsOf(values);
  const { queryStatus, formatStatus } = await import('./admin.js');
  let answer;
  try {
    answer = await queryStatus(node, { cluster, tls });
  } catch (err) {
    return fail((err as Error).message, 1);
  }
  process.stdout.write(values['json'] === true ? `${JSON.stringify(answer.status, null, 2)}\n` : formatStatus(answer.status, answer.cluster));
  // Not process.exit: standard output may still be flushing into a pipe.
  if (!isServing(answer.status)) process.exitCode = notServingExitCode;
}

export const statusCommand: Command = { name: 'status', usage: statusUsage, run: runStatus };
