import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseNodeOptions } from '../../src/cli/options-file.js';
import { defaultClientOptions, transportOptions, withDefaults } from '../../src/options.js';
import { etcdOnPath } from './throughput-etcd-cluster.js';
import { describeThroughput, ratiosOf, throughputJson } from './throughput-report.js';
import { type RowGroup, rowGroups } from './throughput-rows.js';
import { ratioChart } from './throughput-svg.js';
import type { SynodSettings } from './throughput-synod.js';
import { benchThroughput, throughputDefaults } from './throughput.js';

/**
 * `npm run bench -- throughput …`: its flags checked (a usage error exits 2; `--vs etcd` without an
 * etcd on PATH too, saying how to install one), the bench run, the tables on stdout, progress on
 * stderr, the JSON and the SVG written.
 */

export const throughputUsage = '       throughput [--vs etcd] [--window-ms MS] [--rounds N] [--failover-rounds N]\n' +
  `                  [--skip ${rowGroups.join(',')}] [--replicas-5 on|off] [--json FILE] [--svg FILE] [--synod-options FILE]\n` +
  '                  [--wire stream|unary] [--tls]';

const installEtcd = 'no etcd on PATH: install etcd 3.4 (Debian/Ubuntu: apt-get install etcd-server, which brings /usr/bin/etcd), or leave out --vs etcd';

/**
 * `--wire stream|unary`: synod's two hops (the nodes' peer messages, every client call) on one wire:
 * `transport.peerMessages` and `transport.callWire` (default stream), on top of `--synod-options`.
 *
 * `--synod-options FILE`: what synod's side passes through, as JSON `{ "node": {districts as in
 * synod node --options}, "client": {ClientOptions}, "transport": {the clients' TransportOptions} }`,
 * each part optional and checked here like the node and the clients check them.
 */
function readSynodSettings(path: string | undefined, wire: 'stream' | 'unary' | undefined): SynodSettings {
  const parsed = (path === undefined ? {} : JSON.parse(readFileSync(path, 'utf8'))) as Record<string, unknown>;
  if (wire !== undefined) {
    // Both hops on one wire: the nodes' peer messages and client calls, and this process's client calls.
    const node = (parsed['node'] ?? {}) as Record<string, unknown>;
    parsed['node'] = { ...node, transport: { ...(node['transport'] as object | undefined), peerMessages: wire, callWire: wire } };
    parsed['transport'] = { ...(parsed['transport'] as object | undefined), callWire: wire };
  }
  const unknown = Object.keys(parsed).filter((k) => k !== 'node' && k !== 'client' && k !== 'transport');
  if (unknown.length > 0) throw new Error(`--synod-options ${path}: unknown part(s) ${unknown.join(', ')}; known: node, client, transport`);
  const settings: { -readonly [K in keyof SynodSettings]: SynodSettings[K] } = {};
  if (parsed['node'] !== undefined) settings.node = parseNodeOptions(JSON.stringify(parsed['node']), `${path} (node)`);
  if (parsed['client'] !== undefined) {
    settings.client = parsed['client'] as SynodSettings['client'];
    withDefaults(defaultClientOptions, settings.client, 'client');
  }
  if (parsed['transport'] !== undefined) {
    settings.transport = parsed['transport'] as SynodSettings['transport'];
    transportOptions(settings.transport);
  }
  return settings;
}

/** Runs the command; `usage` is the whole bench usage text. Exits 2 on a usage error. */
export async function throughputCommand(argv: readonly string[], usage: string): Promise<void> {
  const bad = (why: string): never => {
    process.stderr.write(`bench: ${why}\n${usage}\n`);
    return process.exit(2);
  };
  let values: Record<string, string | undefined>;
  /** `--tls`: the plaintext-against-TLS rows too. */
  let tls = false;
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: {
        vs: { type: 'string' }, 'window-ms': { type: 'string' }, rounds: { type: 'string' }, 'failover-rounds': { type: 'string' },
        skip: { type: 'string' }, 'replicas-5': { type: 'string' }, json: { type: 'string' }, svg: { type: 'string' }, 'synod-options': { type: 'string' },
        wire: { type: 'string' }, tls: { type: 'boolean' },
      },
      allowPositionals: false,
      strict: true,
    });
    const { tls: tlsFlag, ...strings } = parsed.values;
    tls = tlsFlag === true;
    values = strings;
  } catch (err) {
    return bad((err as Error).message);
  }
  const count = (name: string, fallback: number): number => {
    const text = values[name];
    const n = text === undefined ? fallback : Number(text);
    return Number.isSafeInteger(n) && n >= 1 ? n : bad(`--${name} needs a positive integer`);
  };
  const skip = new Set<RowGroup>();
  for (const g of (values['skip'] ?? '').split(',').filter((s) => s !== '')) {
    if (!(rowGroups as readonly string[]).includes(g)) bad(`--skip takes a comma-separated list of: ${rowGroups.join(', ')}`);
    skip.add(g as RowGroup);
  }
  const replicas5 = values['replicas-5'] ?? 'on';
  if (replicas5 !== 'on' && replicas5 !== 'off') bad('--replicas-5 takes on or off');
  let etcd: string | null = null;
  if (values['vs'] !== undefined) {
    if (values['vs'] !== 'etcd') bad('--vs takes etcd');
    etcd = etcdOnPath();
    if (etcd === null) bad(installEtcd);
  }
  const wire = values['wire'];
  if (wire !== undefined && wire !== 'stream' && wire !== 'unary') bad('--wire takes stream or unary');
  let synod: SynodSettings = {};
  try {
    synod = readSynodSettings(values['synod-options'], wire as 'stream' | 'unary' | undefined);
  } catch (err) {
    bad((err as Error).message);
  }
  const started = Date.now();
  const progress = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
  // Client timers are unref'd (`realClock`): keep the process alive until the bench is done.
  const alive = setInterval(() => {}, 1000);
  try {
    const result = await benchThroughput({
      windowMs: count('window-ms', throughputDefaults.windowMs),
      rounds: count('rounds', throughputDefaults.rounds),
      failoverRounds: count('failover-rounds', throughputDefaults.failoverRounds),
      skip,
      replicas5: replicas5 === 'on',
      etcd,
      synod,
      tls,
      progress,
    });
    process.stdout.write(`\n${describeThroughput(result)}`);
    const outDir = join(tmpdir(), 'synod-bench-output');
    const jsonFile = values['json'] ?? join(outDir, `throughput-${started}.json`);
    const svgFile = values['svg'] ?? join(outDir, `throughput-${started}.svg`);
    for (const [file, text] of [[jsonFile, throughputJson(result)], [svgFile, ratioChart(ratiosOf(result), result.etcd ? 'synod against etcd 3.4, issue 15 (above 1x: synod better; tick: goal)' : 'synod, 3 against 5 replicas (above 1x: 5 cost less; tick: goal)')]] as const) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    process.stdout.write(`\nwrote ${jsonFile} and ${svgFile}\n`);
  } finally {
    clearInterval(alive);
  }
}
