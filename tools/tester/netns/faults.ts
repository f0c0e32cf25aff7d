/**
 * The faults `--netns` scenarios inject into the network of network.ts, all inside the run's own
 * namespaces: partitions and loss as iptables rules in each host's `synod-fault` chain, a link
 * going down and up as its veth's bridge end set down and up, and latency through a delaying
 * relay per node (delay-relay.ts) that an iptables `nat OUTPUT` REDIRECT rule puts in the path of
 * the node's connections to its peers. `reset` undoes all of it between scenarios.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../../harness/node-process.js';
import { type NetnsLayout, faultChain, run, runIn } from './network.js';
import { relayUid } from './delay-relay.js';

/** The compiled relay, beside this module in dist/. */
const relayPath = join(dirname(fileURLToPath(import.meta.url)), 'relay-process.js');

/** The nat chain (OUTPUT) of every node namespace that holds the REDIRECT rules of the delay. */
const delayChain = 'synod-delay';

/** Relay port for peer j (0-based) in a node's namespace: 21000 + j, far from the node ports. */
const relayPortBase = 21_000;

/** How long a relay may take to listen. 10 s: a node process start on a loaded 2-core machine. */
const relayStartTimeoutMs = 10_000;

export class NetnsFaults {
  readonly #layout: NetnsLayout;
  readonly #relays: ChildProcess[] = [];

  constructor(layout: NetnsLayout) {
    this.#layout = layout;
  }

  /** Node i's (0-based) address. */
  address(i: number): string {
    return this.#layout.nodes[i]!.address;
  }

  /**
   * Cuts every node of `left` off from every node of `right` (0-based), both directions, with DROP
   * rules on both sides. Clients (their own namespace) still reach every node.
   */
  cut(left: readonly number[], right: readonly number[]): void {
    for (const [side, other] of [[left, right], [right, left]] as const) {
      for (const i of side) {
        for (const j of other) {
          runIn(this.#layout.nodes[i]!.ns, 'iptables', ['-A', faultChain, '-s', this.address(j), '-j', 'DROP']);
          runIn(this.#layout.nodes[i]!.ns, 'iptables', ['-A', faultChain, '-d', this.address(j), '-j', 'DROP']);
        }
      }
    }
  }

  /** Removes every partition and loss rule (every host's `synod-fault` chain is flushed). */
  heal(): void {
    for (const ns of [this.#layout.clientNs, ...this.#layout.nodes.map((n) => n.ns)]) runIn(ns, 'iptables', ['-F', faultChain]);
  }

  /** Sets node i's (0-based) link down or up: its veth's bridge end, so the node sees its carrier go. */
  link(i: number, up: boolean): void {
    run('ip', ['-n', this.#layout.bridgeNs, 'link', 'set', this.#layout.nodes[i]!.bridgePort, up ? 'up' : 'down']);
  }

  /**
   * Drops each packet a host receives with `probability`, independently (iptables `statistic`
   * match, random mode), in every node's and the clients' namespace: each direction of each
   * link loses that fraction once (the rule matches INPUT on eth0 only).
   */
  loss(probability: number): void {
    for (const ns of [this.#layout.clientNs, ...this.#layout.nodes.map((n) => n.ns)]) {
      runIn(ns, 'iptables', ['-A', faultChain, '-i', 'eth0', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP']);
    }
  }

  /**
   * Delays every node-to-node connection by `delayMs` each way: in each node's namespace a relay
   * for each peer, and a REDIRECT of the node's connections to the peer's `port` to it. Client
   * connections are not delayed (the clients' namespace has no relay).
   */
  async delay(delayMs: number, port: number): Promise<void> {
    const nodes = this.#layout.nodes;
    await Promise.all(nodes.map(async (node, i) => {
      const peers = nodes.map((_, j) => j).filter((j) => j !== i);
      await this.#startRelay(node.ns, delayMs, peers.map((j) => `${relayPortBase + j}=${this.address(j)}:${port}`));
      runIn(node.ns, 'iptables', ['-t', 'nat', '-N', delayChain]);
      runIn(node.ns, 'iptables', ['-t', 'nat', '-A', 'OUTPUT', '-j', delayChain]);
      for (const j of peers) {
        runIn(node.ns, 'iptables', ['-t', 'nat', '-A', delayChain, '-p', 'tcp', '-d', this.address(j), '--dport', String(port),
          '-m', 'owner', '!', '--uid-owner', String(relayUid), '-j', 'REDIRECT', '--to-ports', String(relayPortBase + j)]);
      }
    }));
  }

  async #startRelay(ns: string, delayMs: number, routes: readonly string[]): Promise<void> {
    // Standard input stays a pipe: the relay exits when it closes, i.e. when this process dies.
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, relayPath, '--delay-ms', String(delayMs),
      ...routes.flatMap((r) => ['--route', r])], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#relays.push(child);
    let output = '';
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    await withTimeout(new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the delay relay in ${ns} exited with code ${code}: ${output}`)));
    }), relayStartTimeoutMs, `the delay relay in ${ns} did not start`);
  }

  /** Undoes every fault: rules flushed, links up, relays stopped and their REDIRECTs removed. */
  reset(): void {
    this.heal();
    this.#layout.nodes.forEach((node, i) => {
      this.link(i, true);
      const nat = runIn(node.ns, 'iptables', ['-t', 'nat', '-S', 'OUTPUT']);
      if (nat.includes(delayChain)) {
        runIn(node.ns, 'iptables', ['-t', 'nat', '-D', 'OUTPUT', '-j', delayChain]);
        runIn(node.ns, 'iptables', ['-t', 'nat', '-F', delayChain]);
        runIn(node.ns, 'iptables', ['-t', 'nat', '-X', delayChain]);
      }
    });
    this.stopRelays();
  }

  /** SIGKILLs every relay (synchronous, for exit handlers too). */
  stopRelays(): void {
    for (const r of this.#relays.splice(0)) r.kill('SIGKILL');
  }
}
