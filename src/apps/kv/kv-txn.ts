import { AppError, type Json, argOf } from '../../rsm/app.js';
import { argsObject, checkKeySize, rangesOverlap } from './kv-args.js';
import type { KvLimits } from './kv-limits.js';
import { type RangeRequest, parseRange, readRange } from './kv-range.js';
import type { KvRecord, KvState } from './kv-state.js';
import { type DeleteOp, type PutOp, applyDelete, applyPut, beginWrite, checkPuts, commitWrite, parseDelete, parsePut } from './kv-write.js';

/**
 * Transactions, as etcd's: `txn({ compare, success, failure })`. Every compare is evaluated
 * against the state before the txn; if all hold, the `success` operations run in order, else the
 * `failure` ones. The whole txn is one revision if it changes anything, none otherwise (a
 * read-only txn, or deletes that found nothing). Operations are `{ put: {...} }`,
 * `{ delete: {...} }` or `{ range: {...} }` with the arguments of those procedures (a range
 * without `revision`: it reads the txn's own state, later operations seeing earlier ones).
 *
 * etcd's rules: at most `maxTxnOps` compares, and as many operations in each branch
 * (`too-many-ops`); within a branch no key is put twice, nor put and deleted (`duplicate-key`).
 * Both branches are checked whichever runs, and the one that runs is checked against the state
 * (leases, store size) before its first change, so a refused txn changes nothing.
 */

export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease';
export type CompareOp = '=' | '!=' | '<' | '>';

/** A txn's condition: the key's `target` `op` `value` (`value`: a string for target value, an integer otherwise). */
export interface Compare {
  readonly key: string;
  readonly target: CompareTarget;
  readonly op: CompareOp;
  readonly value: string | number;
}

export type TxnOp =
  | { readonly kind: 'put'; readonly put: PutOp }
  | { readonly kind: 'delete'; readonly del: DeleteOp }
  | { readonly kind: 'range'; readonly read: RangeRequest };

const targets: readonly string[] = ['value', 'version', 'createRevision', 'modRevision', 'lease'];
const ops: readonly string[] = ['=', '!=', '<', '>'];

function listArg(args: Json, name: string, limits: KvLimits): Json[] {
  const v = argOf(args, name);
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new AppError('bad-request', `txn: ${name} must be an array`);
  if (v.length > limits.maxTxnOps) throw new AppError('too-many-ops', `txn: ${name} has ${v.length} entries; at most ${limits.maxTxnOps} (kvLimits.maxTxnOps)`);
  return v;
}

function parseCompare(c: Json, limits: KvLimits): Compare {
  argsObject(c, 'txn compare', ['key', 'target', 'op', 'value']);
  const key = argOf(c, 'key');
  const target = argOf(c, 'target');
  const op = argOf(c, 'op');
  const value = argOf(c, 'value');
  if (typeof key !== 'string' || key.length === 0) throw new AppError('bad-request', 'txn compare: key must be a non-empty string');
  checkKeySize(key, limits);
  if (typeof target !== 'string' || !targets.includes(target)) throw new AppError('bad-request', `txn compare: target must be one of ${targets.join(', ')}`);
  if (typeof op !== 'string' || !ops.includes(op)) throw new AppError('bad-request', `txn compare: op must be one of ${ops.join(' ')}`);
  if (target === 'value' ? typeof value !== 'string' : typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new AppError('bad-request', `txn compare: value must be ${target === 'value' ? 'a string' : 'an integer'} for target ${target}`);
  }
  return { key, target: target as CompareTarget, op: op as CompareOp, value: value as string | number };
}

function parseOp(o: Json, limits: KvLimits): TxnOp {
  const fields = typeof o === 'object' && o !== null && !Array.isArray(o) ? Object.keys(o) : [];
  if (fields.length !== 1) throw new AppError('bad-request', 'txn: each operation is { put: {...} }, { delete: {...} } or { range: {...} }');
  const [kind] = fields as [string];
  const args = argOf(o, kind)!;
  if (kind === 'put') return { kind, put: parsePut(args, 'txn put', limits) };
  if (kind === 'delete') return { kind, del: parseDelete(args, 'txn delete', limits) };
  if (kind === 'range') return { kind, read: parseRange(args, 'txn range', limits, false) };
  throw new AppError('bad-request', `txn: unknown operation ${JSON.stringify(kind)} (put, delete or range)`);
}

/** Refuses a branch that writes a key twice (two puts, or a put inside a delete's range). */
function checkBranch(branch: readonly TxnOp[], name: string): void {
  const puts = new Set<string>();
  for (const op of branch) {
    if (op.kind !== 'put') continue;
    if (puts.has(op.put.key)) throw new AppError('duplicate-key', `txn ${name}: key ${JSON.stringify(op.put.key)} is put twice`);
    puts.add(op.put.key);
  }
  for (const op of branch) {
    if (op.kind !== 'delete') continue;
    for (const key of puts) {
      if (rangesOverlap(op.del.range, { kind: 'key', key })) throw new AppError('duplicate-key', `txn ${name}: key ${JSON.stringify(key)} is both put and deleted`);
    }
  }
}

/** Whether compare `c` holds in `state` (etcd: a value compare on a missing key fails; the numbers of a missing key are 0). */
export function compareHolds(state: Readonly<KvState>, c: Compare): boolean {
  const kv: KvRecord | undefined = state.kvs.get(c.key);
  if (kv === undefined && c.target === 'value') return false;
  const actual = kv === undefined ? 0 : kv[c.target];
  switch (c.op) {
    case '=': return actual === c.value;
    case '!=': return actual !== c.value;
    case '<': return actual < c.value;
    case '>': return actual > c.value;
  }
}

/** The txn handler: `{ succeeded, revision, responses }`, one response per operation run (`{ put: {...} }` etc.). */
export function runTxn(state: KvState, args: Json): Json {
  const { limits } = state;
  argsObject(args, 'txn', ['compare', 'success', 'failure']);
  const compares = listArg(args, 'compare', limits).map((c) => parseCompare(c, limits));
  const success = listArg(args, 'success', limits).map((o) => parseOp(o, limits));
  const failure = listArg(args, 'failure', limits).map((o) => parseOp(o, limits));
  checkBranch(success, 'success');
  checkBranch(failure, 'failure');
  const succeeded = compares.every((c) => compareHolds(state, c));
  const branch = succeeded ? success : failure;
  checkPuts(state, branch.flatMap((op) => (op.kind === 'put' ? [op.put] : [])));
  const batch = beginWrite(state);
  const responses = branch.map((op): Json => {
    switch (op.kind) {
      case 'put': return { put: applyPut(batch, op.put) };
      case 'delete': return { delete: applyDelete(batch, op.del) };
      case 'range': {
        const { kvs, count, more } = readRange(state, op.read) as { kvs: Json; count: Json; more: Json };
        return { range: { kvs, count, more } };
      }
    }
  });
  return { succeeded, revision: commitWrite(batch), responses };
}
