/**
 * The KV store's well-behaved clients beside the fuzzing: `put` and `get` on one key of their own
 * (`wellbehaved§kv`, which no fuzz generator writes), checked by a register model.
 *
 * Why not `kvModel` (tools/lincheck/kv-model.ts): its revision is global, and every fuzz write
 * moves it, so the clients' history alone could not be explained. Fuzz cases cannot put the key
 * (its name has `§`), but a prefix or range delete may take it away at any moment. So the model
 * is a register that an invisible delete may empty: a `get` answers the last put's value and
 * revision, or nothing (and from then on nothing, until the next put); a `put`'s revision is
 * above every revision the register saw before it (revisions only grow).
 */
import type { Json } from '../../src/rsm/app.js';
import { type CallMapping, notExecuted } from '../lincheck/recorder.js';
import type { Model } from '../lincheck/types.js';
import { type GoodWorkload, callLoop, goodMark } from './good-client.js';

export type KvRegisterInput = { readonly proc: 'put'; readonly key: string; readonly value: string } | { readonly proc: 'get'; readonly key: string };
/** A put's revision; a get's value and mod revision (null: no such key). */
export type KvRegisterOutput = { readonly revision: number } | { readonly value: string | null; readonly modRevision: number };

/**
 * What the register holds: the value (null: deleted or never put; undefined: not known yet, as at
 * the start of a real batch, whose cluster kept the key from the batches before), its mod revision
 * (null: unknown), the highest revision seen.
 */
export interface KvRegister {
  readonly value: string | null | undefined;
  readonly modRevision: number | null;
  readonly floor: number;
}

const obj = (v: Json | undefined): { readonly [k: string]: Json } | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null);

export const kvRegisterModel: Model<KvRegister, KvRegisterInput, KvRegisterOutput> = {
  name: 'kv-register',
  init: () => ({ value: undefined, modRevision: null, floor: 0 }),
  step(s, input, output) {
    if (input.proc === 'put') {
      if (output === undefined) return { value: input.value, modRevision: null, floor: s.floor };
      if (!('revision' in output) || !(output.revision > s.floor)) return undefined;
      return { value: input.value, modRevision: output.revision, floor: output.revision };
    }
    if (output === undefined) return s;
    if (!('value' in output)) return undefined;
    // Nothing: a fuzz delete may have run at any time (and then the value stays gone until a put).
    if (output.value === null) return { value: null, modRevision: null, floor: s.floor };
    if (s.value !== undefined && (output.value !== s.value || (s.modRevision !== null && output.modRevision !== s.modRevision))) return undefined;
    return { value: output.value, modRevision: output.modRevision, floor: Math.max(s.floor, output.modRevision) };
  },
  key: (s) => JSON.stringify([s.value === undefined ? 0 : s.value, s.modRevision, s.floor]),
  describe(op) {
    const out = op.output === undefined ? '?' : JSON.stringify(op.output);
    return op.input.proc === 'put' ? `put ${op.input.value} → ${out}` : `get → ${out}`;
  },
  describeState: (s) => (s.value === undefined ? 'the key is not known yet' : s.value === null ? 'the key is absent' : `the key holds ${s.value} (mod revision ${String(s.modRevision)})`),
};

export const kvRegisterCalls: CallMapping<KvRegisterInput, KvRegisterOutput> = {
  input(proc, args) {
    const a = obj(args);
    const key = a?.['key'];
    if (typeof key !== 'string' || !key.includes(goodMark)) return null;
    if (proc === 'get') return { proc, key };
    const value = a?.['value'];
    return proc === 'put' && typeof value === 'string' ? { proc, key, value } : null;
  },
  value(input, value) {
    const reply = obj(value) ?? {};
    if (input.proc === 'put') return { revision: typeof reply['revision'] === 'number' ? reply['revision'] : Number.NaN };
    const kv = obj(Array.isArray(reply['kvs']) ? reply['kvs'][0] : undefined);
    if (kv === null) return { value: null, modRevision: 0 };
    return { value: typeof kv['value'] === 'string' ? kv['value'] : '<not a string>', modRevision: typeof kv['modRevision'] === 'number' ? kv['modRevision'] : Number.NaN };
  },
  // The store refuses a put past its size before it changes anything; nothing else is expected.
  appError: (_input, code) => (code === 'store-full' ? notExecuted : null),
};

export const goodKvWorkload: GoodWorkload<KvRegisterInput, KvRegisterOutput> = {
  calls: kvRegisterCalls,
  model: kvRegisterModel,
  unit: 'calls',
  start(client, sched, rng, deadlineMs) {
    const key = `wellbehaved${goodMark}kv`;
    let written = 0;
    return callLoop(sched, rng, (done) => {
      const read = rng.chance(0.5);
      // Every value is new (client id and count), so a read names the put it saw.
      const args: Json = read ? { key } : { key, value: `${client.clientId}:${++written}` };
      client.submit(read ? 'get' : 'put', args, { deadlineMs }, (r) => done(r.ok));
    });
  },
};
