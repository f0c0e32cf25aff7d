/** The fuzz script's command line (tools/fuzz.ts has the usage). */
import { type Family, families, safeFamilies } from './case-model.js';
import { type FuzzAppName, fuzzAppNames } from './apps.js';
import { mutantNames } from './mutants.js';

export interface FuzzArgs {
  readonly seeds: readonly number[];
  /** One seed replayed (`--seed`). */
  readonly real: boolean;
  readonly cases: number;
  readonly families: readonly Family[];
  readonly app?: FuzzAppName;
  readonly mutant?: string;
  readonly trace: boolean;
  readonly logs: boolean;
  readonly keep: boolean;
}

/** Cases per batch unless `--cases` says otherwise: the simulator takes thousands a second, real processes hundreds. */
export const defaultCases = { sim: 300, real: 150 } as const;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const usage = 'usage: npm run fuzz -- (--seeds N [--start S] | --seed S [--trace [--logs]]) [--real [--keep]] [--cases K] ' +
  `[--families ${families.join(',')}|all] [--app ${fuzzAppNames.join('|')}] [--mutate ${mutantNames().join('|')}]`;

export function parseFuzzArgs(argv: readonly string[]): FuzzArgs {
  let count: number | undefined;
  let start = 1;
  let single: number | undefined;
  let real = false;
  let cases: number | undefined;
  let chosen: readonly Family[] = safeFamilies;
  let app: FuzzAppName | undefined;
  let mutant: string | undefined;
  let trace = false;
  let logs = false;
  let keep = false;
  const int = (v: string | undefined, name: string, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new UsageError(`${name} needs an integer >= ${min}, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--seeds': count = int(argv[++i], '--seeds', 1); break;
      case '--start': start = int(argv[++i], '--start', 0); break;
      case '--seed': single = int(argv[++i], '--seed', 0); break;
      case '--cases': cases = int(argv[++i], '--cases', 1); break;
      case '--real': real = true; break;
      case '--trace': trace = true; break;
      case '--logs': logs = true; break;
      case '--keep': keep = true; break;
      case '--app': {
        const a = argv[++i];
        if (!(fuzzAppNames as readonly (string | undefined)[]).includes(a)) throw new UsageError(`--app is ${fuzzAppNames.join(', ')}, got ${String(a)}`);
        app = a as FuzzAppName;
        break;
      }
      case '--families': chosen = parseFamilies(argv[++i]); break;
      case '--mutate': {
        mutant = argv[++i];
        if (mutant === undefined || !mutantNames().includes(mutant)) throw new UsageError(`unknown mutant ${String(mutant)}; known: ${mutantNames().join(', ')}`);
        break;
      }
      default: throw new UsageError(`unknown argument ${String(arg)}`);
    }
  }
  if (trace && (single === undefined || real)) throw new UsageError('--trace replays one simulator batch: give --seed S');
  const seeds = single !== undefined ? [single] : Array.from({ length: count ?? (real ? 3 : 10) }, (_, k) => start + k);
  return {
    seeds, real, cases: cases ?? defaultCases[real ? 'real' : 'sim'], families: chosen,
    ...(app === undefined ? {} : { app }), ...(mutant === undefined ? {} : { mutant }), trace, logs, keep,
  };
}

function parseFamilies(v: string | undefined): readonly Family[] {
  if (v === undefined) throw new UsageError('--families needs a list');
  if (v === 'all') return families;
  const list = v.split(',');
  const unknown = list.filter((f) => !(families as readonly string[]).includes(f));
  if (unknown.length > 0) throw new UsageError(`unknown families ${unknown.join(', ')}; known: ${families.join(', ')}`);
  return list as Family[];
}
