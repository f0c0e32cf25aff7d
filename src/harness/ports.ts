import { createServer } from 'node:net';

/** Whether `port` on 127.0.0.1 can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

let next = 20000 + (process.pid % 2000) * 10;

/**
 * `count` loopback ports, each with its successor free too (a node's control service listens on
 * port + 1). Ports are handed out from a per-process range so that test files running in
 * parallel do not race for the same ones.
 */
export async function freePortPairs(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = next;
    next += 2;
    if (next > 64000) next = 20000;
    if ((await portFree(port)) && (await portFree(port + 1))) ports.push(port);
  }
  return ports;
}
