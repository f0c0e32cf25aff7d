#!/usr/bin/env node
/**
 * The `synod` command line: a small dispatcher. Each command lives in a module of its own
 * (`*-command.ts`: its usage text, its argument parsing, what it runs); what they share is in
 * `args.ts`. This file knows the commands, prints the overview (`synod`, `synod --help`), the
 * version (`synod --version`) and a command's usage (`synod COMMAND --help`), and turns a usage
 * error into its message and that command's usage only, exit status 2.
 */
import { type Command, UsageError, usageExitCode } from './args.js';
import { certsCommand } from './certs-command.js';
import { controlCommand } from './control-command.js';
import { lockTesterCommand } from './lock-tester-command.js';
import { lockServerCommand, nodeCommand } from './node-command.js';
import { snapshotCommand } from './snapshot-command.js';
import { statusCommand } from './status-command.js';
import { packageVersion } from './version.js';

const commands: readonly Command[] = [nodeCommand, lockServerCommand, lockTesterCommand, statusCommand, controlCommand, snapshotCommand, certsCommand];

const overview = `usage:
${commands.map((c) => c.usage).join('\n\n')}

  synod --version      prints synod's version
  synod COMMAND --help prints that command's usage only (-h too)
`;

function usageOf(command: Command): string {
  return `usage:\n${command.usage}\n`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(overview);
    return;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    process.stderr.write(`synod: unknown command ${name}; commands: ${commands.map((c) => c.name).join(', ')}\n${overview}`);
    process.exit(usageExitCode);
  }
  if (wantsHelpFor(args)) {
    process.stdout.write(usageOf(command));
    return;
  }
  try {
    await command.run(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`synod: ${err.message}\n${usageOf(command)}`);
    process.exit(usageExitCode);
  }
}

/** `--help` or `-h` among a command's arguments (before a `--`). */
function wantsHelpFor(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`synod: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
