/** Small byte helpers the on-disk formats share (`file-log-format.ts`, `file-snapshot.ts`). */

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One character per byte, as Buffer's 'latin1' decodes (TextDecoder's 'latin1' is windows-1252): for magic numbers in messages. */
export function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}
