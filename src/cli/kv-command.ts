/**
 * `synod kv …`: the KV store's commands (put, get, del, range, txn, watch, lease, compact,
 * status) over `KvClient`. This file parses the command line; `kv-run.ts` runs what it asked for
 * and `kv-print.ts` prints it. Bad input is a usage error (exit 2); a refusal of the store or an
 * unreachable cluster is one line on standard error (exit 1); never a stack trace.
 */
import type { ClientTlsFiles } from '../runtime/tls-files.js';
import { type Command, type OptionSpec, UsageError, checkedAddress, clusterOption, noMorePositionals, parse, positiveInteger } from './args.js';
import { clientTlsFiles, clientTlsOptions, clientTlsUsage } from './tls-flags.js';

export const kvUsage = `  synod kv SUBCOMMAND ARGS... --members HOST:PORT[,HOST:PORT...] [--cluster NAME] [--json] [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]
    put KEY VALUE [--lease ID] [--prev-kv]          sets KEY (attached to lease ID)
    get KEY [--rev REV]                             KEY's record (at revision REV); exit 1 when absent
    range KEY [END] | range PREFIX --prefix [--limit N] [--rev REV] [--keys-only] [--count-only]
                                                    the keys in [KEY, END) (END "\\0": to the last key),
                                                    or starting with PREFIX ('' and --prefix: all)
    del KEY [END] | del PREFIX --prefix [--prev-kv] deletes those keys in one revision
    txn [--file FILE]                               a transaction given as JSON (FILE, else standard input):
                                                    {"compare": [{"key": "k", "target": "value"|"version"|
                                                    "createRevision"|"modRevision"|"lease", "op": "="|"!="|"<"|">",
                                                    "value": "v" or 3}], "success": [OP...], "failure": [OP...]}
                                                    OP: {"put": {"key","value","lease"?,"prevKv"?}},
                                                    {"delete": {"key","rangeEnd"?|"prefix"?,"prevKv"?}},
                                                    {"range": {"key","rangeEnd"?|"prefix"?,"limit"?,"keysOnly"?,"countOnly"?}}
    watch KEY [END] | watch PREFIX --prefix [--from REV] [--prev-kv]
                                                    prints each change until Ctrl-C (exit 0); from REV
                                                    (default: changes from now on); resumes by itself
                                                    across failovers
    lease grant TTL | lease keepalive ID | lease revoke ID | lease ttl ID [--keys] | lease list
                                                    keepalive renews lease ID (every TTL/3) until Ctrl-C
                                                    (exit 0), exit 1 when the lease is gone
    compact REV                                     forgets the history up to REV
    status                                          the store's revision, sizes and counts
  Runs one request against the KV store (synod node --app kv) at --members (any of its nodes).
  Without --cluster, the cluster's name is found from the nodes. Prints a human form; --json
  prints the store's reply as JSON (watch: one event per line). Keys and values are printed
  as JSON strings when they would not read back plainly. Protocol: docs/kv.md.
${clientTlsUsage}
  Exit status: 0 on success; 1 when the store refuses the request (its code and reason are
  printed), a key asked for is absent, a kept-alive lease is gone, or the cluster cannot be
  reached; 2 for usage errors.`;

/** What one `synod kv` invocation asks for, parsed and checked. */
export type KvRequest =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly lease?: number; readonly prevKv: boolean }
  | { readonly kind: 'get'; readonly key: string; readonly revision?: number }
  | { readonly kind: 'range'; readonly range: KeyArgs; readonly limit?: number; readonly revision?: number; readonly keysOnly: boolean; readonly countOnly: boolean }
  | { readonly kind: 'del'; readonly range: KeyArgs; readonly prevKv: boolean }
  | { readonly kind: 'txn'; readonly file?: string }
  | { readonly kind: 'watch'; readonly range: KeyArgs; readonly fromRevision?: number; readonly prevKv: boolean }
  | { readonly kind: 'lease-grant'; readonly ttl: number }
  | { readonly kind: 'lease-keepalive' | 'lease-revoke'; readonly id: number }
  | { readonly kind: 'lease-ttl'; readonly id: number; readonly keys: boolean }
  | { readonly kind: 'lease-list' }
  | { readonly kind: 'compact'; readonly revision: number }
  | { readonly kind: 'status' };

/** Which keys: `{ key }`, `{ prefix }` or `{ key, rangeEnd }` (a `KeySelector`). */
export type KeyArgs = { readonly key: string } | { readonly prefix: string } | { readonly key: string; readonly rangeEnd: string };

export interface KvInvocation {
  readonly members: string[];
  readonly cluster?: string;
  readonly json: boolean;
  readonly tls?: ClientTlsFiles;
  readonly request: KvRequest;
}

const options: OptionSpec = {
  members: { type: 'string' }, cluster: { type: 'string' }, json: { type: 'boolean' },
  lease: { type: 'string' }, 'prev-kv': { type: 'boolean' }, rev: { type: 'string' }, prefix: { type: 'boolean' },
  limit: { type: 'string' }, 'keys-only': { type: 'boolean' }, 'count-only': { type: 'boolean' }, file: { type: 'string' },
  from: { type: 'string' }, keys: { type: 'boolean' }, ...clientTlsOptions,
};

/** Which flags each subcommand takes besides the common ones (a flag given to another is a usage error). */
const flagsOf: Record<string, readonly string[]> = {
  put: ['lease', 'prev-kv'], get: ['rev'], range: ['prefix', 'limit', 'rev', 'keys-only', 'count-only'], del: ['prefix', 'prev-kv'],
  txn: ['file'], watch: ['prefix', 'from', 'prev-kv'], lease: ['keys'], compact: [], status: [],
};
const common = ['members', 'cluster', 'json', ...Object.keys(clientTlsOptions)];

function needed(value: string | undefined, what: string): string {
  if (value === undefined) throw new UsageError(`${what} is required`);
  return value;
}

/** KEY [END] or PREFIX --prefix; `END` `\0` (as typed: backslash zero) stands for "\u0000", every key from KEY on. */
function keyArgs(words: readonly string[], prefix: boolean, sub: string): KeyArgs {
  const key = needed(words[0], `kv ${sub}: KEY`);
  noMorePositionals(words, prefix ? 1 : 2);
  if (prefix) return { prefix: key };
  if (key === '') throw new UsageError(`kv ${sub}: KEY must not be empty (--prefix with '' selects every key)`);
  const end = words[1];
  if (end === undefined) return { key };
  return { key, rangeEnd: end === '\\0' ? '\u0000' : end };
}

const numberOf = (value: string | boolean | string[] | undefined, flag: string): number | undefined => positiveInteger(value as string | undefined, flag);
const required = (value: string | undefined, what: string): number => positiveInteger(needed(value, what), what)!;

/** Parses `synod kv …`'s arguments; every mistake is a `UsageError`. */
export function parseKvArgs(args: string[]): KvInvocation {
  const { values, positionals } = parse(args, options);
  const [sub, ...words] = positionals;
  if (sub === undefined) throw new UsageError(`kv needs a subcommand: ${Object.keys(flagsOf).join(', ')}`);
  const allowed = flagsOf[sub];
  if (allowed === undefined) throw new UsageError(`unknown kv subcommand ${sub}; subcommands: ${Object.keys(flagsOf).join(', ')}`);
  for (const [flag, value] of Object.entries(values)) {
    if (value !== undefined && !common.includes(flag) && !allowed.includes(flag)) throw new UsageError(`kv ${sub} does not take --${flag}`);
  }
  const list = needed(values['members'] as string | undefined, '--members HOST:PORT[,HOST:PORT...]');
  const members = list.split(',').map((a) => checkedAddress(a, '--members'));
  const cluster = clusterOption(values['cluster'] as string | undefined);
  const tls = clientTlsFiles(values);
  const flag = (name: string): boolean => values[name] === true;
  const request = ((): KvRequest => {
    switch (sub) {
      case 'put': {
        noMorePositionals(words, 2);
        return { kind: 'put', key: needed(words[0], 'kv put: KEY'), value: needed(words[1], 'kv put: VALUE'), lease: numberOf(values['lease'], '--lease'), prevKv: flag('prev-kv') };
      }
      case 'get':
        noMorePositionals(words, 1);
        return { kind: 'get', key: needed(words[0], 'kv get: KEY'), revision: numberOf(values['rev'], '--rev') };
      case 'range':
        if (flag('keys-only') && flag('count-only')) throw new UsageError('kv range: give --keys-only or --count-only, not both');
        return {
          kind: 'range', range: keyArgs(words, flag('prefix'), sub), limit: numberOf(values['limit'], '--limit'),
          revision: numberOf(values['rev'], '--rev'), keysOnly: flag('keys-only'), countOnly: flag('count-only'),
        };
      case 'del':
        return { kind: 'del', range: keyArgs(words, flag('prefix'), sub), prevKv: flag('prev-kv') };
      case 'txn':
        noMorePositionals(words, 0);
        return { kind: 'txn', file: values['file'] as string | undefined };
      case 'watch':
        return { kind: 'watch', range: keyArgs(words, flag('prefix'), sub), fromRevision: numberOf(values['from'], '--from'), prevKv: flag('prev-kv') };
      case 'lease':
        return parseLease(words, flag('keys'));
      case 'compact':
        noMorePositionals(words, 1);
        return { kind: 'compact', revision: required(words[0], 'kv compact: REV') };
      default:
        noMorePositionals(words, 0);
        return { kind: 'status' };
    }
  })();
  return { members, cluster, json: flag('json'), ...(tls === undefined ? {} : { tls }), request };
}

function parseLease(words: readonly string[], keys: boolean): KvRequest {
  const [verb, arg] = words;
  if (keys && verb !== 'ttl') throw new UsageError('--keys goes with kv lease ttl');
  noMorePositionals(words, verb === 'list' ? 1 : 2);
  switch (verb) {
    case 'grant': return { kind: 'lease-grant', ttl: required(arg, 'kv lease grant: TTL (seconds)') };
    case 'keepalive': return { kind: 'lease-keepalive', id: required(arg, 'kv lease keepalive: ID') };
    case 'revoke': return { kind: 'lease-revoke', id: required(arg, 'kv lease revoke: ID') };
    case 'ttl': return { kind: 'lease-ttl', id: required(arg, 'kv lease ttl: ID'), keys };
    case 'list': return { kind: 'lease-list' };
    default: throw new UsageError(`kv lease needs grant TTL, keepalive ID, revoke ID, ttl ID or list${verb === undefined ? '' : `, not ${verb}`}`);
  }
}

/** `synod kv`. */
async function runKv(args: string[]): Promise<void> {
  const invocation = parseKvArgs(args);
  const { runKvInvocation } = await import('./kv-run.js');
  await runKvInvocation(invocation);
}

export const kvCommand: Command = { name: 'kv', usage: kvUsage, run: runKv };
