/**
 * Runs one `synod kv` invocation (parsed by kv-command.ts): connects a `KvClient`, makes the
 * request, prints the answer (kv-print.ts), and turns every failure into one line on standard
 * error and exit status 1 (a bad transaction file is a usage error, exit 2). `watch` and
 * `lease keepalive` run until SIGINT or SIGTERM, and then exit 0.
 */
import { createReadStream } from 'node:fs';
import { type KvClient, connectKv } from '../apps/kv/kv-client.js';
import type { KeySelector, TxnRequest } from '../apps/kv/kv-client-types.js';
import { limits } from '../options.js';
import { UsageError, fail } from './args.js';
import type { KvInvocation, KvRequest } from './kv-command.js';
import {
  formatDelete, formatEvent, formatGet, formatLeaseTtl, formatLeases, formatPut, formatRange, formatStatus, formatTxn,
} from './kv-print.js';

/** A transaction file or standard input larger than a request may be is refused before it is parsed. */
const maxTxnInputBytes = limits.maxRequestBytes;

const write = (text: string): void => void process.stdout.write(text);
const json = (value: unknown): string => `${JSON.stringify(value)}\n`;

export async function runKvInvocation(invocation: KvInvocation): Promise<void> {
  const txn = invocation.request.kind === 'txn' ? await readTxn(invocation.request.file) : null;
  let kv: KvClient;
  try {
    kv = await connectKv({ members: invocation.members, cluster: invocation.cluster, tls: invocation.tls });
  } catch (err) {
    return fail((err as Error).message, 1);
  }
  try {
    await run(kv, invocation.request, invocation.json, txn);
  } catch (err) {
    await kv.close();
    return fail(`kv ${invocation.request.kind}: ${(err as Error).message}`, 1);
  }
  await kv.close();
}

async function run(kv: KvClient, request: KvRequest, asJson: boolean, txn: TxnRequest | null): Promise<void> {
  const show = <T>(reply: T, human: (r: T) => string): void => write(asJson ? json(reply) : human(reply));
  switch (request.kind) {
    case 'put': return show(await kv.put(request.key, request.value, { lease: request.lease, prevKv: request.prevKv }), formatPut);
    case 'get': {
      const found = await kv.get(request.key, { revision: request.revision });
      if (asJson) write(json(found));
      else if (found !== null) write(formatGet(found));
      if (found === null) process.stderr.write(`synod: kv get: no key ${JSON.stringify(request.key)}\n`);
      process.exitCode = found === null ? 1 : 0;
      return;
    }
    case 'range': {
      const { limit, revision, keysOnly, countOnly } = request;
      return show(await kv.range({ ...(request.range as KeySelector), limit, revision, keysOnly, countOnly }), formatRange);
    }
    case 'del': return show(await kv.delete(request.range as KeySelector, { prevKv: request.prevKv }), formatDelete);
    case 'txn': return show(await kv.txn(txn!), formatTxn);
    case 'compact': return show(await kv.compact(request.revision), (r) => `compacted through revision ${r.compactRevision}; store at revision ${r.revision}\n`);
    case 'status': return show(await kv.status(), formatStatus);
    case 'lease-grant': {
      const lease = await kv.grantLease(request.ttl);
      lease.stopKeepAlive(); // the grant outlives this command: `lease keepalive ID` keeps it
      return show({ id: lease.id, ttl: lease.ttl }, (r) => `lease ${r.id} granted, TTL ${r.ttl} s (keep it alive: synod kv lease keepalive ${r.id})\n`);
    }
    case 'lease-revoke': return show(await kv.revokeLease(request.id), (r) => `lease ${request.id} revoked: ${r.deleted} keys deleted, revision ${r.revision}\n`);
    case 'lease-ttl': return show(await kv.leaseTimeToLive(request.id, { keys: request.keys }), formatLeaseTtl);
    case 'lease-list': return show(await kv.leases(), formatLeases);
    case 'lease-keepalive': return keepAlive(kv, request.id, asJson);
    case 'watch': return watch(kv, request, asJson);
  }
}

/** Resolves at the first SIGINT or SIGTERM (the long-running subcommands' normal end). */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

async function keepAlive(kv: KvClient, id: number, asJson: boolean): Promise<void> {
  const lease = await kv.keepAlive(id);
  write(asJson ? json({ id, ttl: lease.ttl, keepAliveIntervalMs: lease.keepAliveIntervalMs })
    : `keeping lease ${id} (TTL ${lease.ttl} s) alive every ${lease.keepAliveIntervalMs} ms until Ctrl-C\n`);
  // The lease's timers are unref'd (a lease never holds a program open by itself): this command is meant to stay.
  const stay = setInterval(() => {}, 1 << 30);
  const ended = await Promise.race([interrupted().then(() => null), lease.lost]);
  clearInterval(stay);
  if (ended === null) {
    if (!asJson) write(`stopped after ${lease.renewals + 1} keepalives; lease ${id} lives until its TTL runs out\n`);
    return;
  }
  throw new Error(`lease ${id} is gone: ${ended.detail}`);
}

async function watch(kv: KvClient, request: Extract<KvRequest, { kind: 'watch' }>, asJson: boolean): Promise<void> {
  const w = kv.watch({ ...(request.range as KeySelector), fromRevision: request.fromRevision, prevKv: request.prevKv });
  const stop = interrupted().then(() => w.close());
  // Printed on standard error, so that standard output holds only the events.
  const from = await w.started;
  process.stderr.write(`watching ${JSON.stringify(request.range)} from revision ${from} until Ctrl-C\n`);
  for await (const event of w) write(asJson ? json(event) : formatEvent(event));
  await stop;
}

/** The transaction, from `file` or standard input: JSON of `TxnRequest`'s shape (the store checks the rest). */
async function readTxn(file: string | undefined): Promise<TxnRequest> {
  const from = file ?? 'standard input';
  let text: string;
  try {
    text = await readBounded(file);
  } catch (err) {
    throw new UsageError(`kv txn: cannot read ${from}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`kv txn: ${from} is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`kv txn: ${from} must hold an object {"compare": [...], "success": [...], "failure": [...]}`);
  }
  return parsed as TxnRequest;
}

/** The whole of `file` (or standard input) as UTF-8, reading at most `maxTxnInputBytes` (more is an error). */
async function readBounded(file: string | undefined): Promise<string> {
  const input = file === undefined ? process.stdin : createReadStream(file);
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of input) {
    length += (chunk as Buffer).length;
    if (length > maxTxnInputBytes) {
      input.destroy();
      throw new Error(`more than ${maxTxnInputBytes} bytes (limits.maxRequestBytes)`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
