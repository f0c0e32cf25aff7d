import type { Json } from '../../src/rsm/app.js';
import type { Outcome } from './types.js';

/** Longest text of a value or state shown in a sentence before it is cut. */
const maxPreviewChars = 160;

/** `value` as it arrives after a trip through JSON (what a client or a server sees of it). */
export function jsonTrip(value: unknown): Json {
  return JSON.parse(JSON.stringify(value) ?? 'null') as Json;
}

/**
 * JSON text of `value` with object keys sorted, so that two equal values give equal text
 * whatever order their keys were set in (replies cross the wire; models build their own).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(jsonTrip(value)));
}

function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: { [key: string]: Json } = {};
  for (const k of Object.keys(value).sort()) sorted[k] = sortKeys(value[k]!);
  return sorted;
}

/** Whether two outcomes are the same to a client: the same reply (JSON equality) or the same error code. */
export function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.ok && b.ok) return canonicalJson(a.value) === canonicalJson(b.value);
  return !a.ok && !b.ok && a.code === b.code;
}

/** `text`, cut to a length a sentence can carry. */
export function preview(text: string): string {
  return text.length <= maxPreviewChars ? text : `${text.slice(0, maxPreviewChars)}… (${text.length} characters)`;
}

/** An outcome for a sentence: `5`, `{"a":1}`, `error not-found`. */
export function describeOutcome(outcome: Outcome): string {
  return outcome.ok ? preview(canonicalJson(outcome.value)) : `error ${outcome.code}`;
}

/** State bytes for a sentence: their text when they are UTF-8 (JSON states are), else their size. */
export function describeBytes(bytes: Uint8Array): string {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (!/[\u0000-\u0008\u000e-\u001f]/.test(text)) return preview(text);
  } catch {
    // not text: described by size below
  }
  return `${bytes.length} bytes of binary state`;
}
