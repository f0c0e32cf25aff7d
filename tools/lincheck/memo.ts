/**
 * The memory of the linearizability search: the set of operations linearized so far (a bit set
 * carried with its Zobrist hash, so adding or taking back one operation updates the hash in
 * O(1)), and the memo of every (set, model state) pair the search has entered. The memo keeps
 * exact copies of the sets under their hash and the state's key, so a hash collision never merges
 * two different sets. Separate from the search because it is the one part that grows with the
 * work done: what the memory budget meters.
 */

/** What the memo counts per entry beyond its bit set's words (map slot, array header, key share). */
const memoEntryOverheadBytes = 96;

/** The operations linearized so far, by index in their part, and two 32-bit hashes of the set. */
export class LinearizedSet {
  readonly bits: Uint32Array;
  h1 = 0;
  h2 = 0;
  /** Two Zobrist values per operation: the set's hashes are the XOR of those of its members. */
  readonly #z: Uint32Array;

  constructor(operations: number) {
    this.#z = zobrist(operations);
    this.bits = new Uint32Array(Math.ceil(operations / 32));
  }

  has(i: number): boolean {
    return (this.bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /** Adds `i` if absent, takes it out if present; the hashes follow. */
  toggle(i: number): void {
    this.bits[i >>> 5]! ^= 1 << (i & 31);
    this.h1 ^= this.#z[2 * i]!;
    this.h2 ^= this.#z[2 * i + 1]!;
  }
}

/** Two 32-bit Zobrist values per operation (splitmix32), so a set's hash updates in O(1). */
function zobrist(n: number): Uint32Array {
  const z = new Uint32Array(2 * n);
  let s = 0x5eed1234;
  for (let i = 0; i < z.length; i++) {
    s = (s + 0x9e3779b9) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
    z[i] = (x ^ (x >>> 16)) >>> 0;
  }
  return z;
}

/** The (linearized set, state) pairs seen: hash and state key index exact copies of the sets. */
export class Memo {
  readonly #seen = new Map<string, Uint32Array[]>();
  /** An estimate of the memory the entries take. */
  bytes = 0;

  /** Records the pair of `set` as it is now and `stateKey`; false if it was seen before. */
  add(set: LinearizedSet, stateKey: string): boolean {
    const bits = set.bits;
    const key = `${set.h1.toString(36)}.${set.h2.toString(36)}|${stateKey}`;
    const sets = this.#seen.get(key);
    if (sets !== undefined && sets.some((s) => sameBits(s, bits))) return false;
    if (sets === undefined) this.#seen.set(key, [bits.slice()]);
    else sets.push(bits.slice());
    this.bytes += 4 * bits.length + key.length + memoEntryOverheadBytes;
    return true;
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
