import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClientStream, ServerStream, ServerStreamEnd, StreamEnd } from '../../src/env/streams.js';
import type { ClientTransport, Transport } from '../../src/env/transport.js';
import type { TransportOptions } from '../../src/options.js';
import { type Ping, echoStreamCodec, maxEchoTextLength } from './echo-codec.js';

/**
 * What the shared stream tests need from one implementation (gRPC, the simulator's network).
 * Every test makes a fresh harness with the transport options it needs and disposes of it.
 */
export interface StreamHarness {
  /** A node's transport at a fresh address, with the harness's options. */
  node(): Promise<Transport>;
  /** A client's transport. */
  client(): Promise<ClientTransport>;
  /** Takes a node down as a crash would. */
  down(node: Transport): Promise<void>;
  /** Cuts `node` off from every peer and client (gRPC: `isolate()`; the simulator: a partition). */
  isolate(node: Transport): void;
  /** Lets time pass until `condition()` holds or `timeoutMs` (real or virtual) elapses; resolves to whether it held. */
  until(condition: () => boolean, timeoutMs: number): Promise<boolean>;
  dispose(): Promise<void>;
}

/** How long something that should happen may take. Generous: loaded machines stall. */
const arriveMs = 5000;
/** How long a test watches for something that must not happen. */
const quietMs = 300;
/** A keepalive notices a silent peer within this long (the client's 2 s + 1 s, with margin). */
const noticeMs = 8000;

/** What a client heard of one stream, in order: `accepted`, each message's text, `end <kind>`. */
interface Heard {
  readonly events: string[];
  readonly messages: Ping[];
  end: StreamEnd | null;
  stream: ClientStream;
}

function open(client: ClientTransport, server: Transport, request: Ping): Heard {
  const heard: Heard = { events: [], messages: [], end: null, stream: { close() {} } };
  let inside = true;
  heard.stream = client.openStream(echoStreamCodec, server.self, request, {
    accepted: () => heard.events.push(inside ? 'accepted inside openStream' : 'accepted'),
    message: (m) => {
      heard.messages.push(m);
      heard.events.push(m.text);
    },
    ended: (end) => {
      heard.end = end;
      heard.events.push(inside ? `end inside openStream ${end.kind}` : `end ${end.kind}`);
    },
  });
  inside = false;
  return heard;
}

/** Serves the echo stream on `node`, handing each stream to `onStream` (default: accept and keep it). */
function serve(node: Transport, onStream: (request: Ping, stream: ServerStream<Ping>) => void = (_r, s) => s.accept()): Array<{ request: Ping; stream: ServerStream<Ping>; ends: StreamEnd[] }> {
  const got: Array<{ request: Ping; stream: ServerStream<Ping>; ends: StreamEnd[] }> = [];
  node.serveStream(echoStreamCodec, (request, stream) => {
    const entry = { request, stream, ends: [] as StreamEnd[] };
    got.push(entry);
    stream.onEnded((end) => entry.ends.push(end));
    onStream(request, stream);
  });
  return got;
}

const pong = (n: number): Ping => ({ n, text: `pong ${n}` });

/** Registers the stream conformance tests for one implementation under `name`. */
export function streamConformance(name: string, makeHarness: (options: Partial<TransportOptions>) => Promise<StreamHarness>): void {
  async function withHarness(options: Partial<TransportOptions>, body: (h: StreamHarness) => Promise<void>): Promise<void> {
    const h = await makeHarness(options);
    try {
      await body(h);
    } finally {
      await h.dispose();
    }
  }

  describe(`stream conformance: ${name}`, { timeout: 60_000 }, () => {
    test('a stream\'s messages arrive in order after accepted, then its end with the server\'s reason, which the server hears too', () =>
      withHarness({}, async (h) => {
        const [server, client] = [await h.node(), await h.client()];
        const count = 50;
        const served = serve(server, (request, stream) => {
          stream.accept();
          for (let i = 1; i <= count; i++) assert.ok(stream.send(pong(i)));
          stream.end({ kind: 'not-primary', primary: 'elsewhere:1', detail: `not primary (asked by ${request.text})` });
          assert.equal(stream.open, false);
          assert.equal(stream.send(pong(0)), false, 'a send after the end is refused');
        });
        const heard = open(client, server, { n: 7, text: 'hello' });
        assert.ok(await h.until(() => heard.end !== null, arriveMs), `the stream ended: ${heard.events.join(', ')}`);
        assert.deepEqual(heard.events, ['accepted', ...Array.from({ length: count }, (_, i) => pong(i + 1).text), 'end not-primary']);
        assert.deepEqual(heard.messages, Array.from({ length: count }, (_, i) => pong(i + 1)));
        assert.equal(heard.end?.kind === 'not-primary' ? heard.end.primary : null, 'elsewhere:1');
        assert.deepEqual(served.map((s) => s.request), [{ n: 7, text: 'hello' }], 'the request arrives as sent');
        assert.ok(await h.until(() => served[0]!.ends.length > 0, arriveMs));
        assert.deepEqual(served[0]!.ends.map((e) => e.kind), ['not-primary'], 'the server hears its own end once');
      }));

    test('every end a server gives reaches the client as given, refused (never accepted) or after accepting', () =>
      withHarness({}, async (h) => {
        const [server, client] = [await h.node(), await h.client()];
        const ends: ServerStreamEnd[] = [
          { kind: 'not-primary', primary: null, detail: 'no primary known' },
          { kind: 'not-serving-yet', detail: 'view change' },
          { kind: 'unavailable', detail: 'stopping' },
          { kind: 'replaced', detail: 'a newer one' },
          { kind: 'overloaded', detail: 'too many' },
          { kind: 'invalid-request', detail: 'bad owner' },
          { kind: 'internal', detail: 'oops' },
        ];
        serve(server, (request, stream) => {
          if (request.text === 'accept first') stream.accept();
          stream.end(ends[request.n]!);
        });
        const heard = ends.flatMap((_, n) => [open(client, server, { n, text: 'refuse' }), open(client, server, { n, text: 'accept first' })]);
        assert.ok(await h.until(() => heard.every((x) => x.end !== null), arriveMs), 'every stream ended');
        for (const [i, x] of heard.entries()) {
          const given = ends[Math.floor(i / 2)]!;
          assert.deepEqual(x.events, i % 2 === 0 ? [`end ${given.kind}`] : ['accepted', `end ${given.kind}`]);
          if (given.kind === 'not-primary') assert.equal(x.end?.kind === 'not-primary' ? x.end.primary : 'wrong', null);
        }
      }));

    test('a request that fails the service\'s checks is refused invalid-request and never reaches the service', () =>
      withHarness({}, async (h) => {
        const [server, client] = [await h.node(), await h.client()];
        const served = serve(server);
        const heard = open(client, server, { n: 1, text: 'x'.repeat(maxEchoTextLength + 1) });
        assert.ok(await h.until(() => heard.end !== null, arriveMs));
        assert.deepEqual(heard.events, ['end invalid-request']);
        assert.match(heard.end!.detail, /ping\.text/);
        assert.equal(served.length, 0);
      }));

    test('a client that closes its stream hears nothing more, and the server hears it cancelled', () =>
      withHarness({}, async (h) => {
        const [server, client] = [await h.node(), await h.client()];
        const served = serve(server, (_r, stream) => void stream.send(pong(1)));
        const heard = open(client, server, { n: 1, text: 'hi' });
        assert.ok(await h.until(() => heard.messages.length === 1, arriveMs));
        heard.stream.close();
        heard.stream.close();
        assert.ok(await h.until(() => served[0]!.ends.length > 0, arriveMs), 'the server hears the close');
        assert.deepEqual(served[0]!.ends.map((e) => e.kind), ['cancelled']);
        assert.equal(served[0]!.stream.send(pong(2)), false);
        await h.until(() => heard.events.length > 2, quietMs);
        assert.deepEqual(heard.events, ['accepted', 'pong 1']);
      }));

    test('a stream to a node that is down ends unreachable, and the streams of a node that goes down end', () =>
      withHarness({}, async (h) => {
        const [live, gone, client] = [await h.node(), await h.node(), await h.client()];
        serve(live);
        serve(gone);
        await h.down(gone);
        const refused = open(client, gone, { n: 1, text: 'anyone?' });
        assert.ok(await h.until(() => refused.end !== null, arriveMs));
        assert.deepEqual(refused.events, ['end unreachable']);
        const heard = open(client, live, { n: 2, text: 'hi' });
        assert.ok(await h.until(() => heard.events.length > 0, arriveMs));
        assert.deepEqual(heard.events, ['accepted']);
        await h.down(live);
        assert.ok(await h.until(() => heard.end !== null, noticeMs), 'the stream ends when its server goes down');
        // A node that shuts down says so (unavailable); one that crashed is heard as a reset (unreachable).
        assert.ok(['end unavailable', 'end unreachable'].includes(heard.events[1]!), heard.events.join(', '));
        assert.equal(heard.events.length, 2);
      }));

    test('a node holds at most maxStreams streams: one more is refused overloaded, and an ended one frees its place', () =>
      withHarness({ maxStreams: 2 }, async (h) => {
        const [server, client] = [await h.node(), await h.client()];
        const served = serve(server);
        const [a, b] = [open(client, server, { n: 1, text: 'a' }), open(client, server, { n: 2, text: 'b' })];
        assert.ok(await h.until(() => a.events.length > 0 && b.events.length > 0, arriveMs));
        const c = open(client, server, { n: 3, text: 'c' });
        assert.ok(await h.until(() => c.end !== null, arriveMs));
        assert.deepEqual([a.events, b.events, c.events], [['accepted'], ['accepted'], ['end overloaded']]);
        a.stream.close();
        assert.ok(await h.until(() => served[0]!.ends.length > 0, arriveMs));
        const d = open(client, server, { n: 4, text: 'd' });
        assert.ok(await h.until(() => d.events.length > 0, arriveMs));
        assert.deepEqual(d.events, ['accepted']);
      }));

    test('a stream with more than maxQueuedStreamMessages messages its client has not received ends overloaded, after a prefix in order', () =>
      withHarness({ maxQueuedStreamMessages: 5 }, async (h) => {
        const [server, client] = [await h.node(), await h.client()];
        let refusedAt = 0;
        const served = serve(server, (_r, stream) => {
          for (let i = 1; i <= 20 && refusedAt === 0; i++) if (!stream.send(pong(i))) refusedAt = i;
        });
        const heard = open(client, server, { n: 1, text: 'slow' });
        assert.ok(await h.until(() => heard.end !== null, arriveMs));
        assert.equal(refusedAt, 6, 'the sixth message waiting is one too many');
        assert.equal(heard.end?.kind, 'overloaded');
        assert.deepEqual(heard.messages, Array.from({ length: heard.messages.length }, (_, i) => pong(i + 1)), 'a prefix, in order');
        assert.ok(heard.messages.length <= 5);
        assert.ok(await h.until(() => served[0]!.ends.length > 0, arriveMs));
        assert.deepEqual(served[0]!.ends.map((e) => e.kind), ['overloaded']);
      }));

    test('a stream to a node that is cut off ends, and nothing the node sends after the cut reaches the client', () =>
      withHarness({}, async (h) => {
        const [server, client] = [await h.node(), await h.client()];
        const served = serve(server, (_r, stream) => void stream.send(pong(1)));
        const heard = open(client, server, { n: 1, text: 'hi' });
        assert.ok(await h.until(() => heard.messages.length === 1, arriveMs));
        h.isolate(server);
        served[0]!.stream.send(pong(2));
        assert.ok(await h.until(() => heard.end !== null, noticeMs), 'the stream ends');
        assert.ok(heard.end!.kind === 'unavailable' || heard.end!.kind === 'unreachable', `ended ${heard.end!.kind}`);
        assert.deepEqual(heard.messages, [pong(1)]);
      }));
  });
}
