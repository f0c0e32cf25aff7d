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
 * Ports are handed out from [firstPort, endPort). Linux's default ephemeral range (32768–60999)
 * overlaps it; the free check before handing a port out covers that.
 */
const firstPort = 20000;
const endPort = 60000;
/** Each process starts in a range of its own this wide: 50 pairs before it reaches the next process's range. */
const rangePorts = 100;
/** How many ranges fit: 400, so processes whose pids differ by less than 400 never share a start. */
const ranges = (endPort - firstPort) / rangePorts;

let next = firstPort + (process.pid % ranges) * rangePorts;

/**
 * `count` loopback ports, each with its successor free too (a node's control service listens on
 * port + 1). Ports are handed out from a per-process range of 100 ports (50 pairs), so that test
 * files running in parallel do not race for the same ones; a process that needs more goes on
 * into the next range, wrapping within [20000, 60000), and every port is checked free before
 * it is handed out.
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
