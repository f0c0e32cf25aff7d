import type { PaxosBreakpoints } from '../paxos/context.js';

/** The crash breakpoints of design §7, by number. */
export type BreakpointNumber = 1 | 2 | 3 | 4;

export function isBreakpointNumber(n: number): n is BreakpointNumber {
  return n === 1 || n === 2 || n === 3 || n === 4;
}

/**
 * Which crash breakpoints are armed on this node (set through the test control service). Each
 * layer asks about its own: Paxos 3 and 4, RSM 1 and 2. A breakpoint stays armed until it fires
 * (the node dies with it) or is disarmed.
 */
export class Breakpoints implements PaxosBreakpoints {
  readonly #armed = new Set<BreakpointNumber>();

  arm(n: BreakpointNumber): void {
    this.#armed.add(n);
  }

  disarm(n?: BreakpointNumber): void {
    if (n === undefined) this.#armed.clear();
    else this.#armed.delete(n);
  }

  isArmed(n: BreakpointNumber): boolean {
    return this.#armed.has(n);
  }

  get armed(): BreakpointNumber[] {
    return [...this.#armed].sort();
  }
}
