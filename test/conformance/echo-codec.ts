import { InvalidMessageError } from '../../src/env/errors.js';
import type { StreamCodec } from '../../src/env/streams.js';
import type { ServiceCodec, WireCodec } from '../../src/env/transport.js';
import { type Fields, object, uint } from '../../src/env/validate.js';
import { addProtoDir } from '../../src/runtime/proto.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// test/proto/echo.proto, from dist/test/conformance/ where this module runs.
addProtoDir(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'proto'));

/** The one message of the test-only `synod.test.Echo` channel, `synod.test.EchoCall` service and `synod.test.EchoStream` stream (test/proto/echo.proto). */
export interface Ping {
  readonly n: number;
  readonly text: string;
}

/** Longest `text` the EchoCall server accepts in a request: a longer one fails `decodeRequest` at `ping.text`. */
export const maxEchoTextLength = 64;

/** Checks and converts the `member` of a message whose `oneof body` must hold that member. */
function ping(wire: Fields, member: 'ping' | 'pong', maxTextLength: number): Ping {
  if (wire['body'] !== undefined && wire['body'] !== member) {
    throw new InvalidMessageError('body', 'no known message in the envelope');
  }
  const p = object(wire[member], member);
  const text = p['text'] ?? ''; // proto3 does not send an empty string
  if (typeof text !== 'string') throw new InvalidMessageError(`${member}.text`, 'not a string');
  if (text.length > maxTextLength) throw new InvalidMessageError(`${member}.text`, `longer than ${maxTextLength} characters`);
  return { n: uint(p['n'], `${member}.n`, 0, Number.MAX_SAFE_INTEGER), text };
}

/** A second channel for transport tests, so that two channels can be told apart. */
export const echoCodec: WireCodec<Ping> = {
  service: 'synod.test.Echo',
  encode: (m) => ({ ping: { n: m.n, text: m.text } }),
  decode: (wire) => ping(wire, 'ping', Number.MAX_SAFE_INTEGER),
};

/**
 * The request/response test service: a request is a ping, an answer a pong. A request's text
 * is limited to `maxEchoTextLength` (so tests can send one that the server refuses), an answer's
 * is not.
 */
export const echoCallCodec: ServiceCodec<Ping, Ping> = {
  service: 'synod.test.EchoCall',
  encodeRequest: (m) => ({ ping: { n: m.n, text: m.text } }),
  decodeRequest: (wire) => ping(wire, 'ping', maxEchoTextLength),
  encodeAnswer: (m) => ({ pong: { n: m.n, text: m.text } }),
  decodeAnswer: (wire) => ping(wire, 'pong', Number.MAX_SAFE_INTEGER),
};

/**
 * The server-streaming test service: a client subscribes with a ping, the server pushes pongs. A
 * subscription's text is limited to `maxEchoTextLength` (so tests can send one that the server
 * refuses), a pushed message's is not.
 */
export const echoStreamCodec: StreamCodec<Ping, Ping> = {
  service: 'synod.test.EchoStream',
  encodeRequest: (m) => ({ ping: { n: m.n, text: m.text } }),
  decodeRequest: (wire) => ping(wire, 'ping', maxEchoTextLength),
  encodeMessage: (m) => ({ pong: { n: m.n, text: m.text } }),
  decodeMessage: (wire) => ping(wire, 'pong', Number.MAX_SAFE_INTEGER),
};
