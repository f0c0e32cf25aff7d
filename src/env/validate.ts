import { InvalidMessageError } from './errors.js';
import { limits } from '../options.js';
import type { Members, NodeId } from './types.js';

/**
 * Checks for values that arrive from outside (the network, a log, a client). Each takes the
 * dotted path of the field for the error, and throws `InvalidMessageError` on bad input.
 */

export type Fields = Record<string, unknown>;

export function object(value: unknown, path: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidMessageError(path, 'missing or not a message');
  }
  return value as Fields;
}

/**
 * An unsigned integer in [min, max]. Absent counts as 0 (proto3 does not send zero scalars);
 * decimal strings are accepted (how int64 fields may arrive).
 */
export function uint(value: unknown, path: string, min: number, max: number): number {
  const n = value === undefined ? 0 : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new InvalidMessageError(path, 'not an integer');
  if (n < min || n > max) throw new InvalidMessageError(path, `${n} out of range [${min}, ${max}]`);
  return n;
}

/** A boolean. Absent counts as false (proto3 does not send false); anything else is refused. */
export function bool(value: unknown, path: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new InvalidMessageError(path, 'not a boolean');
  return value;
}

export function nodeId(value: unknown, path: string): NodeId {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidMessageError(path, 'empty node id');
  if (value.length > limits.maxNodeIdLength) {
    throw new InvalidMessageError(path, `node id longer than ${limits.maxNodeIdLength} characters`);
  }
  return value;
}

/** Characters a member id may add to its address: `@` and a disk id of up to 32 (`MemberId`). */
export const maxDiskSuffixLength = 33;

/**
 * A node address as given by an operator: `host:port` with a port in 1..65535 (an IPv6 host in
 * brackets, `[::1]:7001`). Returns it unchanged.
 */
export function address(value: unknown, path: string): NodeId {
  const id = nodeId(value, path);
  const colon = id.lastIndexOf(':');
  const host = id.slice(0, colon);
  const port = Number(id.slice(colon + 1));
  if (colon <= 0 || host.length === 0 || !/^\d+$/.test(id.slice(colon + 1)) || port < 1 || port > 65535) {
    throw new InvalidMessageError(path, `${JSON.stringify(id)} is not host:port with a port from 1 to 65535`);
  }
  if (id.includes('@')) throw new InvalidMessageError(path, `${JSON.stringify(id)} contains @, which separates an address from a disk id in member ids`);
  if (id.length > limits.maxNodeIdLength - maxDiskSuffixLength) {
    throw new InvalidMessageError(path, `an address longer than ${limits.maxNodeIdLength - maxDiskSuffixLength} characters leaves no room for a disk id in member ids`);
  }
  if (host.includes(':') && !(host.startsWith('[') && host.endsWith(']'))) {
    throw new InvalidMessageError(path, `an IPv6 host must be in brackets, e.g. [::1]:7001 (got ${JSON.stringify(id)})`);
  }
  return id;
}

/** A non-empty member list without duplicates. */
export function members(value: unknown, path: string): Members {
  const list = Array.isArray(value) ? value : object(value, path)['members'];
  if (!Array.isArray(list) || list.length === 0) throw new InvalidMessageError(path, 'empty member list');
  if (list.length > limits.maxMembers) {
    throw new InvalidMessageError(path, `more than ${limits.maxMembers} members`);
  }
  const result = list.map((m, i) => nodeId(m, `${path}[${i}]`));
  if (new Set(result).size !== result.length) throw new InvalidMessageError(path, 'duplicate member');
  return result;
}

export function array(value: unknown, path: string, maxLength: number): unknown[] {
  const list = value === undefined ? [] : value;
  if (!Array.isArray(list)) throw new InvalidMessageError(path, 'not a list');
  if (list.length > maxLength) throw new InvalidMessageError(path, `more than ${maxLength} entries`);
  return list;
}
