// Helpers for hand-made histories (not a test file: no `.test` in its name).
import type { History, Operation } from '../../tools/lincheck/types.js';

/** Builds a history one operation at a time; ids are given in order (0, 1, …). */
export class HistoryBuilder<I, O> {
  readonly #ops: Array<Operation<I, O>> = [];

  /** An operation that returned `output` at `ret`; its id. */
  done(client: string, input: I, output: O, call: number, ret: number): number {
    return this.#push({ id: this.#ops.length, client, input, output, call, ret });
  }

  /** An operation whose outcome is unknown (it timed out): no output, no return; its id. */
  unknown(client: string, input: I, call: number): number {
    return this.#push({ id: this.#ops.length, client, input, output: undefined, call, ret: undefined });
  }

  get history(): History<I, O> {
    return [...this.#ops];
  }

  #push(op: Operation<I, O>): number {
    this.#ops.push(op);
    return op.id;
  }
}

/** The seed of a randomised test: `SEED=n` replays one; otherwise one from the clock. Printed. */
export function testSeed(what: string): number {
  const seed = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : Date.now() % 2 ** 31;
  console.log(`${what}: seed ${seed} (SEED=${seed} replays)`);
  return seed;
}
