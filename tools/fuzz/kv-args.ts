/**
 * Arguments shaped like the KV store's (docs/kv.md) and bent where it hurts: keys at and past
 * `kvLimits.maxKeyBytes`, values at and past `maxValueBytes`, txns of `maxTxnOps` and far more
 * operations (nested too), compares with wrong targets and ops, revisions, TTLs, lease ids and
 * limits that are negative, fractional, huge or past the safe integers, `leaseExpire` with any
 * renewals (a client's is refused `internal-only`), prototype names as keys and fields, and
 * fields the procedure does not take. Random enough that some are valid and change the store,
 * so later cases meet keys, leases, history and compactions.
 */
import { kvLimits } from '../../src/apps/kv/kv-limits.js';
import type { Prng } from '../sim/prng.js';
import { hostileNumber, hostileString, prototypeKeys } from './hostile.js';

type Args = Record<string, unknown>;

/** Keys the cases share, so that puts, reads, txns and deletes meet. */
const commonKeys = ['a', 'b', 'k1', 'k2', 'dir/x', 'dir/y', 'z', '\u0000', '\uffff'];

const sized = new Map<number, string>();
function sizedString(bytes: number): string {
  let s = sized.get(bytes);
  if (s === undefined) {
    s = 'v'.repeat(bytes);
    sized.set(bytes, s);
  }
  return s;
}

function key(rng: Prng): unknown {
  const r = rng.next();
  if (r < 0.6) return rng.pick(commonKeys);
  if (r < 0.7) return rng.pick(['', 'dir/', 'dir', 'big/']);
  if (r < 0.78) return sizedString(rng.pick([kvLimits.maxKeyBytes, kvLimits.maxKeyBytes + 1]));
  if (r < 0.85) return rng.pick(prototypeKeys);
  if (r < 0.95) return hostileString(rng);
  return wrongType(rng);
}

function value(rng: Prng): unknown {
  const r = rng.next();
  if (r < 0.7) return `v${rng.int(100)}`;
  if (r < 0.8) return sizedString(rng.pick([kvLimits.maxValueBytes - 2, kvLimits.maxValueBytes, kvLimits.maxValueBytes + 1]));
  if (r < 0.9) return hostileString(rng);
  return wrongType(rng);
}

/** A number where a count, revision, TTL or lease id goes. */
function count(rng: Prng): unknown {
  const r = rng.next();
  if (r < 0.55) return rng.between(0, 40);
  if (r < 0.62) return rng.pick([kvLimits.maxLeaseTtlSeconds, kvLimits.maxLeaseTtlSeconds + 1, Number.MAX_SAFE_INTEGER, -1, 1.5, 1e300, -(2 ** 63)]);
  if (r < 0.92) return hostileNumber(rng);
  return wrongType(rng);
}

function flag(rng: Prng): unknown {
  return rng.chance(0.8) ? rng.chance(0.5) : wrongType(rng);
}

function wrongType(rng: Prng): unknown {
  return rng.pick<unknown>([null, 'true', 1, [], {}, ['a'], { key: 'a' }, -0, '']);
}

/** Some of `fields` (each drawn with its generator), now and then with a field the procedure does not take. */
function some(rng: Prng, fields: Record<string, (rng: Prng) => unknown>, required: readonly string[]): Args {
  const out: Args = {};
  for (const [name, draw] of Object.entries(fields)) {
    if (required.includes(name) ? rng.chance(0.95) : rng.chance(0.35)) out[name] = draw(rng);
  }
  if (rng.chance(0.08)) {
    const extra = rng.chance(0.5) ? rng.pick(prototypeKeys) : rng.pick(['keys', 'ttl', 'lease', 'revision', 'filter', 'extra']);
    Object.defineProperty(out, extra, { value: count(rng), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const putArgs = (rng: Prng): Args => some(rng, { key, value, lease: count, prevKv: flag }, ['key', 'value']);
const rangeArgs = (rng: Prng): Args => some(rng, { key, rangeEnd: key, prefix: flag, revision: count, limit: count, keysOnly: flag, countOnly: flag }, ['key']);
const deleteArgs = (rng: Prng): Args => some(rng, { key, rangeEnd: key, prefix: flag, prevKv: flag }, ['key']);

function compare(rng: Prng): unknown {
  if (rng.chance(0.05)) return wrongType(rng);
  const target = rng.chance(0.85) ? rng.pick(['value', 'version', 'createRevision', 'modRevision', 'lease']) : rng.pick(['', 'mod', ...prototypeKeys]);
  const op = rng.chance(0.85) ? rng.pick(['=', '!=', '<', '>']) : rng.pick(['>=', '==', '', 'constructor']);
  return { key: key(rng), target, op, value: target === 'value' && rng.chance(0.8) ? value(rng) : count(rng) };
}

function txnOp(rng: Prng, depth: number): unknown {
  const r = rng.next();
  if (r < 0.35) return { put: putArgs(rng) };
  if (r < 0.55) return { delete: deleteArgs(rng) };
  if (r < 0.75) return { range: rangeArgs(rng) };
  if (r < 0.85 && depth < 3) return { txn: txnArgs(rng, depth + 1) }; // not an operation the store takes
  if (r < 0.92) return { put: putArgs(rng), delete: deleteArgs(rng) }; // two operations in one
  return wrongType(rng);
}

/** How many entries a txn list gets: mostly a few, sometimes exactly at or past `maxTxnOps`, sometimes thousands. */
function listLength(rng: Prng): number {
  return rng.chance(0.8) ? rng.between(0, 4) : rng.pick([kvLimits.maxTxnOps, kvLimits.maxTxnOps + 1, 1000, 5000]);
}

/**
 * A long list is of small entries on keys of its own (`t<i>`, distinct, so a valid branch is no
 * `duplicate-key`), with a drawn entry now and then: thousands of drawn values could be a
 * quarter MiB each, and a case's text is better kept to what a client can send.
 */
function txnArgs(rng: Prng, depth = 0): Args {
  const list = (draw: () => unknown, small: (i: number) => unknown): unknown => {
    if (rng.chance(0.05)) return wrongType(rng);
    const n = listLength(rng);
    return Array.from({ length: n }, (_, i) => (n <= 4 || (depth === 0 && rng.chance(0.01)) ? draw() : small(i)));
  };
  const smallOp = (i: number): unknown => (i % 3 === 0 ? { put: { key: `t${i}`, value: 'v' } } : i % 3 === 1 ? { range: { key: `t${i}` } } : { delete: { key: `t${i}` } });
  return some(rng, {
    compare: () => list(() => compare(rng), (i) => ({ key: `t${i}`, target: 'version', op: '>', value: -1 })),
    success: () => list(() => txnOp(rng, depth), smallOp),
    failure: () => list(() => txnOp(rng, depth), smallOp),
  }, ['success']);
}

const shapes: Readonly<Record<string, (rng: Prng) => Args>> = {
  put: putArgs,
  get: rangeArgs,
  range: rangeArgs,
  delete: deleteArgs,
  txn: (rng) => txnArgs(rng),
  compact: (rng) => some(rng, { revision: count }, ['revision']),
  leaseGrant: (rng) => some(rng, { ttl: count, id: count }, ['ttl']),
  leaseRevoke: (rng) => some(rng, { id: count }, ['id']),
  leaseKeepAlive: (rng) => some(rng, { id: count }, ['id']),
  leaseTimeToLive: (rng) => some(rng, { id: count, keys: flag }, ['id']),
  leaseExpire: (rng) => some(rng, { id: count, renewals: count }, ['id']),
  leases: () => ({}),
  status: () => ({}),
};

/** Arguments shaped for the KV procedure `proc` (any other name: a put's). */
export function kvShapedArgs(proc: string, rng: Prng): Args {
  return (Object.hasOwn(shapes, proc) ? shapes[proc]! : putArgs)(rng);
}

/**
 * A value whose JSON text is nearly `limits.maxRequestBytes` though its UTF-8 is a sixth of that:
 * control characters, which JSON escapes in six bytes (`\u0001`), as every event carrying it does.
 */
const escapedValue = '\u0001'.repeat(Math.floor((1024 * 1024 - 200) / 6));

/**
 * Requests whose effect random ones rarely reach: puts of values that are large in JSON under
 * `big/` (six keys), a delete of them all in one revision (its watch event with prevKv is several
 * times a stream message: the feed must send it in parts), and a lease the big keys may be put
 * under, revoked (the same, through the lease's end).
 */
export function kvScenarioRequest(rng: Prng): { proc: string; args: Args } {
  const r = rng.next();
  if (r < 0.75) return { proc: 'put', args: { key: `big/${rng.int(6)}`, value: escapedValue, ...(rng.chance(0.3) ? { lease: 1 } : {}) } };
  if (r < 0.87) return { proc: 'leaseGrant', args: { ttl: rng.pick([2, 600]), id: 1 } };
  if (r < 0.95) return { proc: 'leaseRevoke', args: { id: 1 } };
  return { proc: 'delete', args: { key: 'big/', prefix: true, ...(rng.chance(0.5) ? { prevKv: true } : {}) } };
}
