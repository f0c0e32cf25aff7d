import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Whether `port` on 127.0.0.1 can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Ports are handed out from [firstPort, endPort), below the ephemeral range the kernel picks the
 * local ports of outgoing connections from (Linux: /proc/sys/net/ipv4/ip_local_port_range,
 * 32768–60999 by default). Inside that range, a port checked free can be taken a moment later as
 * the local end of some connection (a node's gRPC client, a test's), and the node then started
 * on it fails with EADDRINUSE — most often on a restart on the same port, when the port has been
 * free for a while. Below it, only listeners compete, and the free check covers those.
 */
const firstPort = 20000;
/** At least this many ports between `firstPort` and the ephemeral range, or the range is ignored. */
const minPorts = 2000;
const endPort = ((): number => {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low - firstPort >= minPorts) return low;
  } catch {
    // not Linux: use the IANA ephemeral range's start, which other systems default to
  }
  return 32768;
})();
/** Each process starts in a range of its own this wide: 50 pairs before it reaches the next process's range. */
const rangePorts = 100;
/** How many ranges fit (127 below 32768), so processes whose pids differ by less than that never share a start. */
const ranges = Math.floor((endPort - firstPort) / rangePorts);

let next = firstPort + (process.pid % ranges) * rangePorts;

/**
 * `count` loopback ports, each with its successor free too (a node's control service listens on
 * port + 1). Ports are handed out from a per-process range of 100 ports (50 pairs), so that test
 * files running in parallel do not race for the same ones; a process that needs more goes on
 * into the next range, wrapping within [20000, start of the ephemeral range), and every port is
 * checked free before it is handed out.
 */
export async function freePortPairs(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = next;
    next += 2;
    if (next + 1 >= endPort) next = firstPort; // the pair (next, next + 1) must stay below endPort
    if ((await portFree(port)) && (await portFree(port + 1))) ports.push(port);
  }
  return ports;
}
