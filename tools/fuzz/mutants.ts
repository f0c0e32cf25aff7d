/**
 * Mutants: synod with one of its guards removed, to watch the fuzzer catch it. A mutant is made
 * in a copy of the compiled tree (dist/), never in src/: the copy gets one edit of one compiled
 * file, and the fuzzer runs from the copy (its nodes, simulated or real processes, run the
 * mutated code). If an edit no longer finds its text (the code it breaks changed), the mutant
 * refuses to run rather than test nothing.
 *
 *   npm run fuzz -- --mutate no-json-depth-check --seeds 3
 *
 * The run's own output and exit status are the fuzzer's (1: some batch failed, i.e. the mutant
 * was caught); a last line says whether it was.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Mutant {
  readonly name: string;
  /** Which guard is gone, and what the fuzzer should see. */
  readonly description: string;
  /** The compiled file to edit, relative to dist/. */
  readonly file: string;
  /** The text replaced (it must occur exactly once). */
  readonly find: string;
  readonly replace: string;
}

export const mutants: readonly Mutant[] = [
  {
    name: 'no-json-depth-check',
    description: 'the edge no longer checks how deep JSON arguments nest (limits.maxJsonDepth): deep arguments are executed instead of refused',
    file: 'src/rsm/codec.js',
    find: 'if (jsonTextDepth(s, bounds.maxDepth) > bounds.maxDepth) {',
    replace: 'if (false) {',
  },
  {
    name: 'no-handler-guard',
    description: 'the guard around app handlers rethrows what a handler throws: an app error stops the node',
    file: 'src/rsm/procedure-outcome.js',
    // The end of the handler's try block, whatever arguments the handler is given.
    find: 'replyBounds);\n    }\n    catch (err) {',
    replace: 'replyBounds);\n    }\n    catch (err) {\n        throw err;',
  },
  {
    name: 'undecodable-internal',
    description: 'requests whose bytes are no message are answered INTERNAL again, as grpc-js does (real processes)',
    file: 'src/runtime/grpc-undecodable.js',
    find: 'return new UndecodableRequest(',
    replace: 'throw err; return new UndecodableRequest(',
  },
];

export function mutantNames(): string[] {
  return mutants.map((m) => m.name);
}

/** The package root: this file runs from dist/tools/fuzz/. */
function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/**
 * Makes the mutant `name` in a temporary copy of dist/ and runs the fuzzer from it with `argv`
 * (without `--mutate`); resolves with the run's exit status. Its output goes to ours.
 */
export async function runMutant(name: string, argv: readonly string[]): Promise<number> {
  return (await mutantRun(name, argv, 'inherit')).code;
}

/** As `runMutant`, but the run's output is collected and returned with the status (for tests). */
export async function runMutantCollected(name: string, argv: readonly string[]): Promise<{ readonly code: number; readonly output: string }> {
  return mutantRun(name, argv, 'pipe');
}

async function mutantRun(name: string, argv: readonly string[], stdio: 'inherit' | 'pipe'): Promise<{ code: number; output: string }> {
  const mutant = mutants.find((m) => m.name === name);
  if (mutant === undefined) throw new Error(`unknown mutant ${name}`);
  const root = packageRoot();
  const copy = mkdtempSync(join(tmpdir(), `synod-mutant-${name}-`));
  try {
    cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
    cpSync(join(root, 'package.json'), join(copy, 'package.json'));
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
    symlinkSync(join(root, 'proto'), join(copy, 'proto'));
    const file = join(copy, 'dist', mutant.file);
    const text = readFileSync(file, 'utf8');
    const count = text.split(mutant.find).length - 1;
    if (count !== 1) {
      throw new Error(`mutant ${name}: the text to replace occurs ${count} times in dist/${mutant.file}, not once; the code changed: update tools/fuzz/mutants.ts`);
    }
    writeFileSync(file, text.replace(mutant.find, mutant.replace));
    let output = '';
    const say = (line: string): void => {
      if (stdio === 'inherit') process.stdout.write(line);
      else output += line;
    };
    say(`mutant ${name}: ${mutant.description}\n`);
    const rest = withoutMutate(argv);
    const code = await new Promise<number>((done) => {
      const child = spawn(process.execPath, [join(copy, 'dist', 'tools', 'fuzz.js'), ...rest], { stdio: ['ignore', stdio, stdio] });
      child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
      child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
      child.on('close', (c) => done(c ?? 2));
    });
    say(code === 1 ? `mutant ${name}: caught\n` : `mutant ${name}: NOT caught (exit status ${code})\n`);
    return { code, output };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

function withoutMutate(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--mutate') i++;
    else out.push(argv[i]!);
  }
  return out;
}
