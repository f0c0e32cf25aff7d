// `synod node --options FILE`: every tunable of a node (src/options.ts) from one JSON file, so an
// operator can set a timeout, retry or limit without writing code. The file is checked whole
// before the node starts: an unknown district, an unknown option or a value of the wrong type
// is a usage error naming it (a misspelt option must never leave its default in force silently).
import { readFileSync, statSync } from 'node:fs';
import {
  type CallbackOptions, type ConfigOptions, type PaxosOptions, type RsmOptions, type TransportOptions, callbackOptions, checkRsmFitsTransport, configOptions, paxosOptions, rsmOptions, transportOptions,
} from '../options.js';
import { type FeedOptions, feedOptions } from '../options/feeds.js';
import { type ObserveOptions, observeOptions } from '../options/observe.js';
import { type LeaseKeeperOptions, leaseKeeperOptions } from '../options/leases.js';
import { UsageError } from './args.js';

/** What an options file may set: one object per district, each a part of that district's options. */
export interface NodeOptionsFile {
  readonly paxos?: Partial<PaxosOptions>;
  readonly config?: Partial<ConfigOptions>;
  readonly rsm?: Partial<RsmOptions>;
  readonly callbacks?: Partial<CallbackOptions>;
  readonly transport?: Partial<TransportOptions>;
  readonly observe?: Partial<ObserveOptions>;
  readonly leases?: Partial<LeaseKeeperOptions>;
  /** The feed service's (an app with feeds: the KV store's watches). */
  readonly feeds?: Partial<FeedOptions>;
}

/**
 * An options file is small (a few dozen numbers); a larger one is a wrong path (a data file, a
 * log), refused before it is read whole.
 */
const maxOptionsFileBytes = 64 * 1024;

/** Each district with the function that fills its defaults and checks it (the node does the same). */
const districts: Record<keyof NodeOptionsFile, (given: Record<string, unknown>) => object> = {
  paxos: (g) => paxosOptions(g as Partial<PaxosOptions>),
  config: (g) => configOptions(g as Partial<ConfigOptions>),
  rsm: (g) => rsmOptions(g as Partial<RsmOptions>),
  callbacks: (g) => callbackOptions(g as Partial<CallbackOptions>),
  transport: (g) => transportOptions(g as Partial<TransportOptions>),
  observe: (g) => observeOptions(g as Partial<ObserveOptions>),
  leases: (g) => leaseKeeperOptions(g as Partial<LeaseKeeperOptions>),
  feeds: (g) => feedOptions(g as Partial<FeedOptions>),
};

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses and checks the options in `text` (read from `path`, which errors name). Returns only what
 * the file sets: the node fills the rest with its defaults, as it does for options given in code.
 */
export function parseNodeOptions(text: string, path: string): NodeOptionsFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--options ${path} is not JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new UsageError(`--options ${path} must hold a JSON object, e.g. {"config": {"suspectAfterMissed": 10}}`);
  const result: Record<string, Record<string, unknown>> = {};
  for (const [district, given] of Object.entries(parsed)) {
    if (!Object.hasOwn(districts, district)) {
      throw new UsageError(`--options ${path}: "${district}" is not a district of options; known: ${Object.keys(districts).join(', ')}`);
    }
    if (!isPlainObject(given)) throw new UsageError(`--options ${path}: "${district}" must be an object of options`);
    try {
      districts[district as keyof NodeOptionsFile](given);
    } catch (err) {
      throw new UsageError(`--options ${path}: ${(err as Error).message}`);
    }
    result[district] = given;
  }
  try {
    checkRsmFitsTransport(rsmOptions(result['rsm'] as Partial<RsmOptions> | undefined),
      transportOptions(result['transport'] as Partial<TransportOptions> | undefined).maxMessageBytes);
  } catch (err) {
    throw new UsageError(`--options ${path}: ${(err as Error).message}`);
  }
  return result as NodeOptionsFile;
}

/** Reads and checks an options file; every failure is a usage error naming the file. */
export function readNodeOptions(path: string): NodeOptionsFile {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > maxOptionsFileBytes) {
      throw new UsageError(`--options ${path} is ${size} bytes; an options file is at most ${maxOptionsFileBytes} (is it the right file?)`);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--options ${path} cannot be read: ${(err as Error).message}`);
  }
  return parseNodeOptions(text, path);
}
