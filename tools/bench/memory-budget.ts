import type { RsmOptions, TransportOptions } from '../../src/options.js';

const MiB = 1024 * 1024;

/**
 * What a node process takes at rest before it holds anything for anyone: Node and V8, gRPC,
 * pino, synod's code and the test app. Measured at about 70 MiB on the project's machine; the
 * rest is room for the allocator and the kernel's accounting.
 */
export const baselineBytes = 100 * MiB;

/**
 * What a node serving calls at full speed takes beyond `baselineBytes` while holding nothing
 * more: V8 lets the heap grow with the allocation rate (the young generation, and old-space
 * room before its next full collection). Measured at 80–110 MiB on the project's machine for
 * small calls at about 500 a second from 64 clients, whether they came from 64 client ids or from
 * 20,000.
 */
export const servingBytes = 100 * MiB;

/**
 * V8 collects garbage when the heap (and the external memory of buffers) has grown to about
 * twice what survived the last full collection; until then what was freed is still resident.
 * So a node's resident memory may reach twice what it holds live.
 */
export const gcFactor = 2;

/**
 * A request that arrives is resident three times before synod can refuse it: the message gRPC
 * read whole (a buffer), its decoded text, and its parsed arguments. gRPC reads every message
 * before any handler sees it, so what is being received depends on the offered load (the flood's
 * concurrent calls × their size), not on synod's options.
 */
export const copiesPerArrival = 3;

/**
 * A client table entry (client id, sequence number, digest, outcome, map overhead), generously.
 * The table keeps at most `RsmOptions.maxClients` entries (each with its client's last reply).
 */
export const clientEntryBytes = 1024;

/** What the memory benchmark measured against. */
export interface MemoryBudgetInputs {
  readonly rsm: RsmOptions;
  readonly transport: TransportOptions;
  /** Replicas in the view (the primary sends every request to each of the others). */
  readonly members: number;
  /** The flood: concurrent calls and the bytes of each. */
  readonly floodCalls: number;
  readonly floodRequestBytes: number;
  /** Client ids the client table may hold (the distinct ids that called, or the table's bound). */
  readonly clientEntries: number;
}

/** One budget and how it was derived (printed beside the figure). */
export interface Budget {
  readonly bytes: number;
  readonly derivation: string;
}

/**
 * Bytes the primary holds live for requests at most, by the options: the requests of waiting
 * calls as received (`maxPendingCallBytes`), and for every request in flight
 * (`maxInFlightBytes`) its parsed arguments plus one encoded invoke per backup.
 */
export function heldBytes(i: MemoryBudgetInputs): number {
  return i.transport.maxPendingCallBytes + i.members * i.rsm.maxInFlightBytes;
}

/**
 * The primary's resident memory budgets: at rest; under the flood (what it may hold by the
 * options and what arrives, each up to `gcFactor` times); after `clientEntries` client ids made
 * a call each (serving, plus the client table).
 */
export function memoryBudgets(i: MemoryBudgetInputs): { readonly rest: Budget; readonly flood: Budget; readonly clients: Budget } {
  const mib = (b: number): string => `${(b / MiB).toFixed(0)} MiB`;
  const held = heldBytes(i);
  const arriving = copiesPerArrival * i.floodCalls * i.floodRequestBytes;
  const table = i.clientEntries * clientEntryBytes;
  return {
    rest: { bytes: baselineBytes, derivation: `baseline ${mib(baselineBytes)}` },
    flood: {
      bytes: baselineBytes + gcFactor * (held + arriving),
      derivation: `${mib(baselineBytes)} + ${gcFactor} × (held ${mib(held)} = maxPendingCallBytes + ${i.members} × maxInFlightBytes` +
        ` + arriving ${mib(arriving)} = ${copiesPerArrival} × ${i.floodCalls} calls × ${mib(i.floodRequestBytes)})`,
    },
    clients: {
      bytes: baselineBytes + servingBytes + gcFactor * table,
      derivation: `${mib(baselineBytes)} + serving ${mib(servingBytes)} + ${gcFactor} × ${i.clientEntries} client table entries × ${clientEntryBytes} B`,
    },
  };
}
