import type { ControlAction } from './admin.js';
import { clientTlsOf, clientTlsOptions, clientTlsUsage } from './tls-flags.js';
import { type Command, UsageError, checkedAddress, clusterOption, fail, parse } from './args.js';

export const controlUsage = `  synod control CONTROL-HOST:PORT [--node HOST:PORT] [--cluster NAME] [--tls-ca FILE --tls-cert FILE --tls-key FILE]
                breakpoint 1|2|3|4 | breakpoint off [N] | partition 1 | partition 0 | partition-from PEER[,PEER...]
  Drives the test control service at CONTROL-HOST:PORT (127.0.0.1, the node's port + 1, unless
  the node was given --control-address; only nodes started with --control serve it): arm crash
  breakpoint N (1-4, design §7) or disarm one or all; isolate the node from every peer and client
  (1) or heal every partition (0); cut it off from the named peers only. Prints the service's
  answer. Every control request names the node's cluster and cluster id, which this command reads
  from the node's status first: at --node (default: the control address's port - 1), under
  --cluster when given (else found as synod status finds it). With TLS the control service of a
  node takes only certificates of its cluster CA or client CA (a client certificate does).
${clientTlsUsage}
  Exit status: 0 with the answer; 1 when the node or the service cannot be reached or refuses;
  2 for usage errors.`;

function breakpointNumber(text: string): 1 | 2 | 3 | 4 {
  if (!/^[1-4]$/.test(text)) throw new UsageError(`breakpoint must be 1, 2, 3, 4 or off, got ${text}`);
  return Number(text) as 1 | 2 | 3 | 4;
}

/** The action the words after the address name. */
function parseAction(verb: string | undefined, arg: string | undefined, extra: string[]): ControlAction {
  const allowedExtra = verb === 'breakpoint' && arg === 'off' ? 1 : 0;
  if (extra.length > allowedExtra) throw new UsageError(`unexpected arguments: ${extra.slice(allowedExtra).join(' ')}`);
  switch (verb) {
    case 'breakpoint':
      if (arg === undefined) throw new UsageError('breakpoint needs N (1-4) or off');
      if (arg !== 'off') return { kind: 'breakpoint', breakpoint: breakpointNumber(arg) };
      return extra[0] === undefined ? { kind: 'disarm' } : { kind: 'disarm', breakpoint: breakpointNumber(extra[0]) };
    case 'partition':
      if (arg === '1') return { kind: 'isolate' };
      if (arg === '0') return { kind: 'heal' };
      throw new UsageError(`partition takes 1 (isolate) or 0 (heal), got ${arg ?? 'nothing'}`);
    case 'partition-from': {
      if (arg === undefined || arg === '') throw new UsageError('partition-from needs the peers to cut off (HOST:PORT[,HOST:PORT...])');
      return { kind: 'partition-from', peers: arg.split(',').map((p) => checkedAddress(p, 'peer')) };
    }
    case undefined:
      throw new UsageError('control needs an action: breakpoint, partition or partition-from');
    default:
      throw new UsageError(`unknown control action ${verb}`);
  }
}

/** `synod control`. */
async function runControl(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { node: { type: 'string' }, cluster: { type: 'string' }, ...clientTlsOptions });
  const [target, verb, arg, ...extra] = positionals;
  if (target === undefined) throw new UsageError('control needs the control service\'s address (HOST:PORT, by default 127.0.0.1 and the node\'s port + 1)');
  const controlAddress = checkedAddress(target, 'address');
  const node = values['node'] === undefined ? undefined : checkedAddress(values['node'] as string, '--node');
  const cluster = clusterOption(values['cluster'] as string | undefined);
  const action = parseAction(verb, arg, extra);
  const tls = clientTlsOf(values);
  const { controlNode } = await import('./admin.js');
  try {
    const detail = await controlNode(controlAddress, action, { node, cluster, tls });
    process.stdout.write(`${controlAddress}: ${detail}\n`);
  } catch (err) {
    fail((err as Error).message, 1);
  }
}

export const controlCommand: Command = { name: 'control', usage: controlUsage, run: runControl };
