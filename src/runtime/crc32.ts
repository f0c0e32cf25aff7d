/**
 * CRC-32 exactly as zlib, gzip and PNG compute it: the IEEE 802.3 polynomial, bits processed
 * least significant first, initial value and final XOR all ones. Check value:
 * `crc32(ascii "123456789") === 0xcbf43926`.
 *
 * Table-driven, one byte per step. That is plenty for log records and keeps the code small;
 * Node 20 has no built-in CRC-32 (`zlib.crc32` arrived in Node 22).
 */

/** 0x04c11db7 with its bits reversed, because this CRC shifts towards the least significant bit. */
const reversedPolynomial = 0xedb88320;

/** `table[b]` is the CRC register after shifting the byte value `b` through it eight times. */
const table: Uint32Array = buildTable();

function buildTable(): Uint32Array {
  const result = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let register = byte;
    for (let bit = 0; bit < 8; bit++) {
      register = (register & 1) !== 0 ? (register >>> 1) ^ reversedPolynomial : register >>> 1;
    }
    result[byte] = register;
  }
  return result;
}

/**
 * The CRC-32 of `data`, an unsigned 32-bit integer.
 *
 * @param previous the CRC-32 of the bytes that precede `data`, to checksum a sequence in pieces
 *   without concatenating it: `crc32(b, crc32(a)) === crc32(a followed by b)`. Default 0, the
 *   CRC-32 of nothing.
 */
export function crc32(data: Uint8Array, previous = 0): number {
  let register = ~previous;
  for (let i = 0; i < data.length; i++) {
    // Both indexes are in range by construction: i < data.length, and the mask keeps 0..255.
    register = table[(register ^ data[i]!) & 0xff]! ^ (register >>> 8);
  }
  return ~register >>> 0;
}
