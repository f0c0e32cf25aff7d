/**
 * A source of randomness for jitter and peer choice. Cores never call Math.random: the
 * simulator injects its one seeded generator, so that every random choice replays from the seed.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random.next() * n);
}

/** A uniformly chosen element, or undefined for an empty list. */
export function randomPick<T>(random: Random, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[randomInt(random, items.length)];
}

/** Production randomness. */
export const systemRandom: Random = { next: () => Math.random() };
