import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The installed package's version, read from its package.json at run time (never compiled in,
 * so it cannot go stale). The package root is found as `protoDir` finds it: walking up from this
 * module to the nearest directory with both a package.json and `proto/` (the compiled file runs
 * from `dist/src/cli/`, an installed copy from `node_modules/synod/dist/src/cli/`).
 */
export function packageVersion(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && existsSync(join(dir, 'proto'))) {
      const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown };
      if (typeof version !== 'string') throw new Error(`${manifest} names no version`);
      return version;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json beside a proto/ directory above ${here}`);
  }
}
