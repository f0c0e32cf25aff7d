#!/usr/bin/env node
/**
 * synod command line.
 *
 *   synod node --me HOST:PORT --first HOST:PORT --data-dir DIR [--control [HOST:PORT]]
 *              [--log-level debug|info|warn|error] [--log-file FILE]
 *       Runs one node. With --control, serves the test control service (default: port + 1).
 *
 * Exit status: 0 after SIGTERM/SIGINT (graceful stop), 1 when the node refuses to start (bad
 * arguments, a data directory of another node, a corrupt log, a port in use), 2 for usage errors.
 */
import { parseArgs } from 'node:util';
import type { LogLevel } from '../runtime/logging.js';
import { createLogger } from '../runtime/logging.js';
import { SynodNode, defaultControlAddress } from '../node/synod-node.js';
import { nodeId } from '../env/validate.js';

const usage = `usage:
  synod node --me HOST:PORT --first HOST:PORT --data-dir DIR [--control [HOST:PORT]]
             [--log-level debug|info|warn|error] [--log-file FILE]`;

function fail(message: string, code: number): never {
  process.stderr.write(`synod: ${message}\n`);
  process.exit(code);
}

async function runNode(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      me: { type: 'string' },
      first: { type: 'string' },
      'data-dir': { type: 'string' },
      control: { type: 'boolean' },
      'control-address': { type: 'string' },
      'log-level': { type: 'string' },
      'log-file': { type: 'string' },
    },
    strict: true,
  });
  const need = (name: 'me' | 'first' | 'data-dir'): string => values[name] ?? fail(`--${name} is required\n${usage}`, 2);
  const me = need('me');
  const first = need('first');
  const dataDir = need('data-dir');
  try {
    nodeId(me, '--me');
    nodeId(first, '--first');
  } catch (err) {
    fail((err as Error).message, 2);
  }
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) fail(`unknown --log-level ${level}`, 2);
  const logger = createLogger({ level, ...(values['log-file'] === undefined ? {} : { file: values['log-file'] }), base: { node: me } });
  let node: SynodNode;
  try {
    const controlAddress = values['control-address'] ?? (values.control === true ? defaultControlAddress(me) : undefined);
    node = await SynodNode.start({
      me,
      first,
      dataDir,
      logger,
      ...(controlAddress === undefined ? {} : { controlAddress }),
    });
  } catch (err) {
    logger.error({ err }, 'node refused to start');
    fail(`node ${me} refused to start: ${(err as Error).message}`, 1);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    node.close().then(
      () => process.exit(0),
      (err: unknown) => fail(`stop failed: ${(err as Error).message}`, 1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'node':
      return runNode(rest);
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${usage}\n`);
      return;
    default:
      fail(`unknown command ${command}\n${usage}`, 2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => fail((err as Error).stack ?? String(err), 1));
