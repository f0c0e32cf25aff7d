import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

/**
 * The wire schema: every `.proto` file of the package's `proto/` directory, loaded once with the
 * options every synod codec is written against. Codecs depend on these options:
 * - `keepCase`: field names as written in the .proto (`acceptedValue` would break codecs);
 * - `longs: Number`: uint64 arrives as a JS number (codecs bound values to the safe range);
 * - `defaults: false`: an unset field is absent (`undefined`), so "missing" is visible;
 * - `oneofs: true`: the envelope carries `body: '<member name>'` naming the set `oneof` member.
 */
export const protoLoaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
};

let cached: protoLoader.PackageDefinition | undefined;
const extraDirs: string[] = [];

/**
 * Adds a directory of `.proto` files to what `protoPackage` loads (tests register their own
 * test-only services this way; production loads only the package's `proto/`).
 */
export function addProtoDir(dir: string): void {
  if (extraDirs.includes(dir)) return;
  extraDirs.push(dir);
  cached = undefined;
}

/**
 * Finds `proto/` next to the package's package.json, walking up from this file. The compiled
 * file runs from `dist/src/runtime/`, the source from `src/runtime/`, and an installed copy
 * from `node_modules/synod/dist/src/runtime/`; the nearest package.json is the package root in
 * all three.
 */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return join(dir, 'proto');
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`no proto/ directory beside a package.json above ${fileURLToPath(import.meta.url)}`);
    }
    dir = parent;
  }
}

/** Every message and service of the `.proto` files, keyed by fully qualified name. Cached. */
export function protoPackage(): protoLoader.PackageDefinition {
  if (cached === undefined) {
    const dirs = [protoDir(), ...extraDirs];
    // Sorted so that load order (and thus any duplicate-name error) does not depend on readdir.
    const files = dirs.flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.proto'))
        .sort()
        .map((f) => join(dir, f)),
    );
    if (files.length === 0) throw new Error(`no .proto files in ${dirs.join(', ')}`);
    cached = protoLoader.loadSync(files, { ...protoLoaderOptions, includeDirs: dirs });
  }
  return cached;
}

/**
 * The service definition of `name` (fully qualified, e.g. `synod.paxos.Paxos`), as
 * `grpc.Server.addService` and the client-side method paths and serializers need it.
 * Throws if no such service exists (a codec naming an unknown service is a programmer error).
 */
export function serviceDefinition(name: string): protoLoader.ServiceDefinition {
  const def = protoPackage()[name];
  // Messages and enums carry a `format` string; services are plain maps of methods.
  if (def === undefined || 'format' in def) {
    throw new Error(`no gRPC service ${name} in ${protoDir()}`);
  }
  return def as protoLoader.ServiceDefinition;
}
