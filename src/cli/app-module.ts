import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type App, checkApp } from '../rsm/app.js';
import { UsageError } from './args.js';

/** The module given to `--app-module` could not be loaded (not found, a syntax error, a throw at load). */
export class AppModuleLoadError extends Error {
  override readonly name = 'AppModuleLoadError';
  constructor(
    readonly spec: string,
    readonly reason: string,
  ) {
    super(`--app-module ${spec}: cannot load the module: ${reason}`);
  }
}

/**
 * Loads the app of `--app-module PATH[#exportName]`: imports PATH (relative to `cwd`; the last
 * `#` starts the export's name) and takes its default export, or the named one, which must be an
 * app (`checkApp`: name, version, and functions where functions belong).
 * Throws `AppModuleLoadError` when the module does not load, `UsageError` when the spec is
 * malformed or the export is missing or not an app (naming what is missing or wrong).
 */
export async function loadAppModule(spec: string, cwd = process.cwd()): Promise<App<unknown>> {
  const hash = spec.lastIndexOf('#');
  const path = hash < 0 ? spec : spec.slice(0, hash);
  const exportName = hash < 0 ? 'default' : spec.slice(hash + 1);
  if (path === '') throw new UsageError(`--app-module ${JSON.stringify(spec)}: give the module's path (PATH[#exportName])`);
  if (exportName === '') throw new UsageError(`--app-module ${spec}: give the export's name after # (or leave out # for the default export)`);
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(resolve(cwd, path)).href) as Record<string, unknown>;
  } catch (err) {
    throw new AppModuleLoadError(spec, err instanceof Error ? err.message : String(err));
  }
  const exported = Object.keys(module).filter((k) => k !== 'default');
  const exportsText = `(its named exports: ${exported.length === 0 ? 'none' : exported.join(', ')})`;
  if (!(exportName in module) || module[exportName] === undefined) {
    throw new UsageError(exportName === 'default'
      ? `--app-module ${spec}: the module has no default export; name the app's export with ${path}#NAME ${exportsText}`
      : `--app-module ${spec}: the module has no export ${exportName} ${exportsText}`);
  }
  const value = module[exportName];
  try {
    checkApp(value);
  } catch (err) {
    throw new UsageError(`--app-module ${spec}: ${exportName === 'default' ? 'the default export' : `export ${exportName}`} ` +
      `is not an app (defineApp({ name, version, initialState, handlers, marshalState, unmarshalState })): ${(err as Error).message}`);
  }
  return value;
}
