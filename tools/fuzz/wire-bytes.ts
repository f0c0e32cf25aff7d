/**
 * Protobuf bytes no encoder would write: the wire-level half of the fuzzer (real processes,
 * where whatever is sent passes through the node's protobuf decoder first). Each mutation takes
 * a message's bytes and breaks them one way: cut short, bits flipped, fields of unknown numbers,
 * a known field with the wrong wire type (a number where a string goes), wire types that do not
 * exist, groups nested a hundred thousand deep, lengths far past the end, varints that never end.
 */
import type { Prng } from '../sim/prng.js';
import { randomBytes } from './messages.js';
import type { MessageSchema } from './schema.js';

/** A varint (up to 2^53; protobuf's own go to 2^64). */
export function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A field's tag: its number and wire type (0-7; 6 and 7 do not exist). */
export function tag(field: number, wireType: number): Buffer {
  return varint(field * 8 + wireType);
}

/** One field with a value of the given wire type (what a real field of that type would carry). */
function fieldOfType(rng: Prng, field: number, wireType: 0 | 1 | 2 | 5): Buffer {
  switch (wireType) {
    case 0: return Buffer.concat([tag(field, 0), varint(rng.pick([0, 1, 127, 2 ** 32, 2 ** 53 - 1]))]);
    case 1: return Buffer.concat([tag(field, 1), randomBytes(rng, 8)]);
    case 5: return Buffer.concat([tag(field, 5), randomBytes(rng, 4)]);
    case 2: {
      const body = randomBytes(rng, rng.pick([0, 3, 40]));
      return Buffer.concat([tag(field, 2), varint(body.length), body]);
    }
  }
}

function repeat(b: Buffer, times: number): Buffer {
  return Buffer.concat(Array.from({ length: times }, () => b));
}

/** A field number `m` does not have. */
function unknownNumber(m: MessageSchema, rng: Prng): number {
  const known = new Set(m.fields.map((f) => f.number));
  let number = rng.pick([4, 9, 99, 1000, 2 ** 29 - 1]);
  while (known.has(number)) number = number >= 2 ** 29 - 1 ? 5 : number + 1;
  return number;
}

export const byteMutations = [
  'truncate', 'flip', 'unknown-field', 'wrong-wire-type', 'bad-wire-type', 'deep-groups', 'length-past-end', 'endless-varint', 'garbage',
] as const;
export type ByteMutation = (typeof byteMutations)[number];

/** `bytes` (a message of type `m`) broken by `mutation`. */
export function mutateBytes(bytes: Buffer, m: MessageSchema, mutation: ByteMutation, rng: Prng): Buffer {
  switch (mutation) {
    case 'truncate':
      return bytes.length === 0 ? Buffer.from([0x0a]) : bytes.subarray(0, rng.int(bytes.length));
    case 'flip': {
      const copy = Buffer.from(bytes.length === 0 ? [0] : bytes);
      for (let k = rng.between(1, 4); k > 0; k--) {
        const i = rng.int(copy.length);
        copy[i] = copy[i]! ^ (1 << rng.int(8));
      }
      return copy;
    }
    case 'unknown-field':
      return Buffer.concat([bytes, fieldOfType(rng, unknownNumber(m, rng), rng.pick([0, 1, 2, 5] as const))]);
    case 'wrong-wire-type': {
      if (m.fields.length === 0) return Buffer.concat([bytes, fieldOfType(rng, 1, 0)]);
      const f = rng.pick(m.fields);
      const wrong = ([0, 1, 2, 5] as const).filter((w) => w !== f.wireType);
      return Buffer.concat([bytes, fieldOfType(rng, f.number, rng.pick(wrong))]);
    }
    case 'bad-wire-type':
      // On a field the message does not have: a decoder skips those by wire type, and finds none.
      return Buffer.concat([bytes, tag(unknownNumber(m, rng), rng.pick([6, 7])), randomBytes(rng, 4)]);
    case 'deep-groups': {
      // Start-group tags nested `depth` deep, each closed again (or, half the time, never closed).
      // On a field the message does not have (a known one is read as its own type, whatever the tag says).
      const depth = rng.pick([1000, 100_000]);
      const number = unknownNumber(m, rng);
      const open = repeat(tag(number, 3), depth); // start group
      const close = rng.chance(0.5) ? repeat(tag(number, 4), depth) : Buffer.alloc(0); // end group
      return Buffer.concat([bytes, open, close]);
    }
    case 'length-past-end':
      // On a field the message does not have: its value is skipped by length, past the end (a
      // known string field's decoder reads what there is instead).
      return Buffer.concat([bytes, tag(unknownNumber(m, rng), 2), varint(rng.pick([2 ** 31 - 1, 1000])), Buffer.from('abc')]);
    case 'endless-varint':
      return Buffer.concat([bytes, tag(unknownNumber(m, rng), 0), Buffer.alloc(rng.pick([11, 64]), 0xff)]);
    case 'garbage':
      return randomBytes(rng, rng.pick([1, 7, 100, 10_000]));
  }
}
