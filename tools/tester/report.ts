/**
 * How the real-process tester speaks: the failure a scenario throws (`ScenarioFailure`, `check`),
 * the names it gives nodes (n1, n2 … by port order, so messages read the same on every run,
 * whatever ports were free), and the tail of a process's output that its messages quote.
 * Separate from the cluster so that scenarios, the cluster's parts and the runner
 * share one vocabulary without importing each other.
 */
import type { NodeProcess } from '../harness/node-process.js';

/** A scenario's expectation did not hold; the message says what was expected and what was seen. */
export class ScenarioFailure extends Error {
  override readonly name = 'ScenarioFailure';
}

export function check(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new ScenarioFailure(typeof message === 'string' ? message : message());
}

/** The labels of one cluster's nodes: n1, n2 … by port order (n1 is the first node). */
export class NodeNames {
  readonly #labels = new Map<string, string>();

  /** `nodes` in port order. */
  constructor(nodes: readonly NodeProcess[]) {
    nodes.forEach((n, i) => this.#labels.set(n.address, `n${i + 1}`));
  }

  /** `n2`; an address that is not one of the nodes stays as it is. */
  label(node: NodeProcess | string): string {
    const address = typeof node === 'string' ? node : node.address;
    return this.#labels.get(address) ?? address;
  }

  /** `[n1,n2,n3]` */
  list(members: readonly (NodeProcess | string)[]): string {
    return `[${members.map((m) => this.label(m)).join(',')}]`;
  }

  /** A view history: `[n1] [n1,n2] …` */
  history(h: ReadonlyArray<readonly (NodeProcess | string)[]>): string {
    return h.map((v) => this.list(v)).join(' ');
  }
}

/** The last lines of a process's output, indented, for failure messages. */
export function tail(output: string, lines = 8): string {
  return output.trimEnd().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
}
