import { InvalidMessageError } from '../../src/env/errors.js';
import type { WireCodec } from '../../src/env/transport.js';
import { object, uint } from '../../src/env/validate.js';
import { addProtoDir } from '../../src/runtime/proto.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// test/proto/echo.proto, from dist/test/conformance/ where this module runs.
addProtoDir(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'proto'));

/** The one message of the test-only `synod.test.Echo` channel (test/proto/echo.proto). */
export interface Ping {
  readonly n: number;
  readonly text: string;
}

/** A second channel for transport tests, so that two channels can be told apart. */
export const echoCodec: WireCodec<Ping> = {
  service: 'synod.test.Echo',
  encode: (m) => ({ ping: { n: m.n, text: m.text } }),
  decode: (wire) => {
    if (wire['body'] !== undefined && wire['body'] !== 'ping') {
      throw new InvalidMessageError('body', 'no known message in the envelope');
    }
    const p = object(wire['ping'], 'ping');
    const text = p['text'] ?? ''; // proto3 does not send an empty string
    if (typeof text !== 'string') throw new InvalidMessageError('ping.text', 'not a string');
    return { n: uint(p['n'], 'ping.n', 0, Number.MAX_SAFE_INTEGER), text };
  },
};
