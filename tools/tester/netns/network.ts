/**
 * The tester's own small network of Linux network namespaces (`--netns`): one namespace per node,
 * one for the tester's clients, and one holding the bridge that joins them, so that the host's
 * network is never touched (no interface, address, route or rule is made outside these
 * namespaces: each veth pair is created with its two ends directly in their namespaces).
 *
 *        client ns  eth0 10.213.0.100 ─┐
 *        node ns 1  eth0 10.213.0.11  ─┼─ veth ─ br0 (bridge ns)
 *        node ns 2  eth0 10.213.0.12  ─┤
 *        …                             ┘
 *
 * Names carry a prefix and a run id (`synod-t<pid>-<random>-…`, the pid of the process that made
 * them), so that `sweepDeadRuns` can remove what a killed run left behind without touching a live
 * run's. Removing a namespace also removes its veth end and its iptables rules; processes still
 * inside it are killed first (a namespace lives on, unnamed, while a process holds it).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Every name this tool gives a namespace starts with this. */
export const netnsPrefix = 'synod-t';

/** The subnet of every run (each run has its own namespaces, so runs never share it): 10.213.0.0/24. */
const subnet = '10.213.0';
/** Node i (1-based) is 10.213.0.(10 + i); at most `maxNetnsNodes` nodes. */
const nodeHostBase = 10;
export const maxNetnsNodes = 9;
const clientHost = `${subnet}.100`;

/** A run's namespaces, addresses and interface names: plain data, passed to the re-executed tester as JSON. */
export interface NetnsLayout {
  readonly runId: string;
  readonly bridgeNs: string;
  readonly clientNs: string;
  readonly clientAddress: string;
  /** By node, 0-based: the namespace, its address, and the name of its veth's bridge end (in the bridge namespace). */
  readonly nodes: ReadonlyArray<{ readonly ns: string; readonly address: string; readonly bridgePort: string }>;
}

/** Runs `ip …` (or another command) and returns its output; a failure says which command and why. */
export function run(program: string, args: readonly string[]): string {
  try {
    return execFileSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${program} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** `ip netns exec NS program args…`. */
export function runIn(ns: string, program: string, args: readonly string[]): string {
  return run('ip', ['netns', 'exec', ns, program, ...args]);
}

/** The layout of a new run with `nodes` nodes (nothing is created yet). */
export function planLayout(nodes: number): NetnsLayout {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > maxNetnsNodes) throw new RangeError(`--netns runs 1 to ${maxNetnsNodes} nodes, not ${nodes}`);
  const runId = `${process.pid}-${randomBytes(2).toString('hex')}`;
  const name = (what: string): string => `${netnsPrefix}${runId}-${what}`;
  return {
    runId,
    bridgeNs: name('br'),
    clientNs: name('c'),
    clientAddress: clientHost,
    nodes: Array.from({ length: nodes }, (_, i) => ({ ns: name(`n${i + 1}`), address: `${subnet}.${nodeHostBase + i + 1}`, bridgePort: `v${i + 1}` })),
  };
}

/** The namespaces of a layout, bridge last (so hosts are unplugged before the bridge goes). */
function namespacesOf(layout: NetnsLayout): string[] {
  return [layout.clientNs, ...layout.nodes.map((n) => n.ns), layout.bridgeNs];
}

/**
 * Creates the namespaces, the bridge and the veth pairs of `layout`, and in every host namespace
 * the iptables chain `synod-fault` that INPUT and OUTPUT jump to (where partitions and loss go).
 * On a failure half way, removes what it made and throws.
 */
export function createNetwork(layout: NetnsLayout): void {
  try {
    const br = layout.bridgeNs;
    run('ip', ['netns', 'add', br]);
    run('ip', ['-n', br, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    run('ip', ['-n', br, 'link', 'set', 'br0', 'up']);
    const hosts = [...layout.nodes, { ns: layout.clientNs, address: layout.clientAddress, bridgePort: 'vc' }];
    for (const h of hosts) {
      run('ip', ['netns', 'add', h.ns]);
      run('ip', ['link', 'add', 'eth0', 'netns', h.ns, 'type', 'veth', 'peer', 'name', h.bridgePort, 'netns', br]);
      run('ip', ['-n', br, 'link', 'set', h.bridgePort, 'master', 'br0']);
      run('ip', ['-n', br, 'link', 'set', h.bridgePort, 'up']);
      run('ip', ['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
      run('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
      run('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
      runIn(h.ns, 'iptables', ['-N', faultChain]);
      runIn(h.ns, 'iptables', ['-I', 'INPUT', '-j', faultChain]);
      runIn(h.ns, 'iptables', ['-I', 'OUTPUT', '-j', faultChain]);
    }
  } catch (err) {
    destroyNetwork(layout);
    throw err;
  }
}

/** The iptables chain (filter table) of every host namespace that holds the injected faults. */
export const faultChain = 'synod-fault';

/**
 * Removes every namespace of `layout` that exists, killing the processes still inside first.
 * Synchronous and never throws (for exit and signal handlers); returns what it could not remove.
 */
export function destroyNetwork(layout: NetnsLayout): string[] {
  return removeNamespaces(namespacesOf(layout));
}

function removeNamespaces(names: readonly string[]): string[] {
  const existing = new Set(listNamespaces());
  const failed: string[] = [];
  for (const ns of names) {
    if (!existing.has(ns)) continue;
    try {
      for (const pid of run('ip', ['netns', 'pids', ns]).split('\n').filter((l) => /^\d+$/.test(l))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // it exited meanwhile
        }
      }
      run('ip', ['netns', 'del', ns]);
    } catch (err) {
      failed.push(`${ns}: ${(err as Error).message}`);
    }
  }
  return failed;
}

/** The names of the network namespaces that exist (`ip netns list`). */
export function listNamespaces(): string[] {
  return run('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n !== '');
}

/**
 * Removes the namespaces of earlier runs whose process is gone (killed before it could clean
 * up); a live run's are left alone. Returns the names removed.
 */
export function sweepDeadRuns(): string[] {
  const pattern = new RegExp(`^${netnsPrefix}(\\d+)-`);
  const dead = listNamespaces().filter((ns) => {
    const pid = pattern.exec(ns)?.[1];
    return pid !== undefined && !processAlive(Number(pid));
  });
  // Hosts before bridges, as in `destroyNetwork`.
  dead.sort((a, b) => Number(a.endsWith('-br')) - Number(b.endsWith('-br')));
  removeNamespaces(dead);
  return dead;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why `--netns` cannot run here (null: it can): it needs root, `ip` and `iptables`, and the
 * kernel must let it make a namespace whose iptables accepts the `statistic` match (the loss).
 * Checked by making a probe namespace and removing it.
 */
export function netnsUnsupportedReason(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root (network namespaces and iptables need root)';
  const probe = `${netnsPrefix}${process.pid}-probe`;
  try {
    run('ip', ['netns', 'add', probe]);
    runIn(probe, 'iptables', ['-A', 'INPUT', '-m', 'statistic', '--mode', 'random', '--probability', '0.01', '-j', 'DROP']);
    runIn(probe, 'iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-m', 'owner', '!', '--uid-owner', '65534', '-j', 'RETURN']);
    return null;
  } catch (err) {
    return `network namespaces or iptables do not work here: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    removeNamespaces([probe]);
  }
}
