import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from '../../src/runtime/crc32.js';

// The checksum of the log's batches, against the standard check values.

describe('crc32', () => {
  test('crc32 gives the standard check values', () => {
    assert.equal(crc32(text('123456789')), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
    assert.equal(crc32(new Uint8Array(4)), 0x2144df1c);
  });

  test('crc32 of a sequence can be computed in pieces', () => {
    const whole = text('The quick brown fox jumps over the lazy dog');
    assert.equal(crc32(whole), 0x414fa339);
    assert.equal(crc32(whole.subarray(10), crc32(whole.subarray(0, 10))), 0x414fa339);
  });
});

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}
