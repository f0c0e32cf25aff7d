// Proves the delaying relay that gives `--netns` its link latency (no sch_netem here), on loopback
// so it runs anywhere: every byte arrives, in order, no earlier than the delay in each direction
// (an echo's round trip takes two delays), and a graceful close still delivers what was in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { relay } from '../../tools/tester/netns/delay-relay.js';

/** The delay each direction gets in these tests. */
const delayMs = 50;

/** How long one test may take before it fails (a relay that loses a FIN would hang it). Both take well under a second. */
const testTimeoutMs = 10_000;

/** Bytes sent through the relay: several socket chunks, so order across chunks is checked. */
const payloadBytes = 1024 * 1024;

function listening(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A free port: listen on 0, close, reuse the number (the relay takes a fixed port). */
async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listening(s);
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

test('the relay echoes every byte in order, and each message\'s round trip takes at least twice the delay', { timeout: testTimeoutMs }, async () => {
  const echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  const echoPort = await listening(echo);
  const relayPort = await freePort();
  const server = await relay(relayPort, { host: '127.0.0.1', port: echoPort }, delayMs);
  try {
    const payload = Buffer.alloc(payloadBytes, 0);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 10)) % 251;
    const client = connect({ port: relayPort, host: '127.0.0.1', allowHalfOpen: true });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    let arrived: (() => void) | null = null;
    client.on('data', (d: Buffer) => {
      chunks.push(d);
      receivedBytes += d.length;
      arrived?.();
    });
    const until = (bytes: number): Promise<number> => new Promise((resolve) => {
      const check = (): void => {
        if (receivedBytes >= bytes) resolve(performance.now());
      };
      arrived = check;
      check();
    });
    // Two messages, the second sent once the first is all back: each must wait for the delay, not just the first chunk.
    const half = payload.length / 2;
    for (const [from, to] of [[0, half], [half, payload.length]] as const) {
      const sentAt = performance.now();
      const firstBack = until(from + 1);
      client.write(payload.subarray(from, to));
      const roundTripMs = (await firstBack) - sentAt;
      assert.ok(roundTripMs >= 2 * delayMs - 1, `bytes ${from}… came back after ${roundTripMs.toFixed(1)} ms, under twice the ${delayMs} ms delay`);
      await until(to);
    }
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    client.end(); // the FIN follows the data through the relay, and the echo's back
    await ended;
    const back = Buffer.concat(chunks);
    assert.equal(back.length, payload.length);
    assert.ok(back.equals(payload), 'the bytes came back changed or out of order');
    client.destroy();
  } finally {
    server.close();
    echo.close();
  }
});

test('a close right after sending still delivers everything the relay held', { timeout: testTimeoutMs }, async () => {
  let got: Promise<Buffer> | undefined;
  const sink = createServer((s) => {
    got = readAll(s);
  });
  const sinkPort = await listening(sink);
  const relayPort = await freePort();
  const server = await relay(relayPort, { host: '127.0.0.1', port: sinkPort }, delayMs);
  try {
    const client = connect({ port: relayPort, host: '127.0.0.1' });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    // The sender is gone (its socket destroyed once the kernel took the bytes) before the relay delivers them.
    await new Promise<void>((resolve) => client.end(Buffer.from('last words'), () => resolve()));
    client.destroy();
    for (let i = 0; i < 50 && got === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(got !== undefined, 'the relay never connected to the sink');
    assert.equal((await got).toString(), 'last words');
  } finally {
    server.close();
    sink.close();
  }
});
