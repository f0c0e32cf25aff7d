/**
 * The fuzzer's vocabulary: what a case is (one message to one node's service, with what the
 * documented rules demand of it), the families cases come in, and the helpers every family's
 * generator shares. The generators are in cases.ts (clients), envelopes.ts (peers) and
 * control-cases.ts (the test control service).
 */
import type { Prng } from '../sim/prng.js';
import { hostileString } from './hostile.js';
import type { AppTarget } from './app-args.js';
import type { CapturedEnvelope } from './envelopes.js';
import type { WireEnv } from './messages.js';
import type { MethodSchema, WireSchema } from './schema.js';
import { type ByteMutation, byteMutations, mutateBytes } from './wire-bytes.js';

export const families = ['client', 'callbacks', 'feeds', 'status', 'peer', 'replay', 'control', 'forge', 'control-effects'] as const;
export type Family = (typeof families)[number];

/** The families whose input the design says can harm no node: after them the whole oracle holds. */
export const safeFamilies: readonly Family[] = ['client', 'callbacks', 'feeds', 'status', 'peer', 'replay', 'control'];
/**
 * Input only a peer inside the cluster (or the operator) could send: nodes must stay up and
 * refuse with types, but what they then agree on is not the oracle's business (Paxos assumes
 * honest peers; mutual TLS keeps the others out).
 */
export const forgeFamilies: readonly Family[] = ['forge', 'control-effects'];

export type Payload =
  | { readonly form: 'fields'; readonly fields: Record<string, unknown> }
  | { readonly form: 'bytes'; readonly bytes: Buffer; readonly mutation: ByteMutation };

/** What the rules demand of a case's outcome. */
export type Expectation =
  | { readonly kind: 'free' }
  /** Must be refused (by the codec, the transport or the replica) and not acted on; `names`: the refusal's text must name it. */
  | { readonly kind: 'refuse'; readonly why: string; readonly names?: string }
  /** If executed, the outcome is the app error `unknown-procedure`. */
  | { readonly kind: 'unknown-procedure' }
  /**
   * A stream the node must not accept: refused, or ended (a feed's cancel: `invalid-request`),
   * or sent elsewhere first (`not-primary` …: only the serving primary looks at the feed and
   * its filter).
   */
  | { readonly kind: 'not-accepted'; readonly why: string };

export interface FuzzCase {
  readonly id: number;
  readonly family: Family;
  readonly service: string;
  readonly method: string;
  /** The node it goes to (index into the cluster's nodes); `toPrimary`: the primary at send time instead. */
  readonly to: number;
  readonly toPrimary: boolean;
  /** The sender the simulated network reports (peer channels; client machines are the fuzzer's own). */
  readonly from: string;
  readonly payload: Payload;
  readonly expect: Expectation;
  /** One line for reports. */
  readonly label: string;
}

/** Everything the generators need to know of a target. */
export interface CaseEnv {
  readonly schema: WireSchema;
  readonly wire: WireEnv;
  readonly app: AppTarget;
  /** Real processes (protobuf between fuzzer and node) or the simulator. */
  readonly real: boolean;
  /** The services the target's nodes serve (e.g. the callback service only with an app that has callbacks). */
  readonly served: ReadonlySet<string>;
  /** Genuine peer messages captured from a run of this cluster (replay, forge). */
  readonly captured: readonly CapturedEnvelope[];
}

/** What a family generator returns: the case's fields (its id, family are added by `drawCases`). */
export type CaseDraft = Omit<FuzzCase, 'id' | 'family'>;

/** The name the simulator's fuzz machines go by (each case gets its own: `fuzz-machine-<id>`). */
export const fuzzMachine = 'fuzz-machine';
export const free: Expectation = { kind: 'free' };

/**
 * On real processes, now and then the fields' protobuf bytes broken at the wire level (`share`);
 * otherwise (and in the simulator, which has no bytes) the fields themselves.
 */
export function maybeBytes(env: CaseEnv, method: MethodSchema, fields: Record<string, unknown>, rng: Prng, share: number): Payload {
  if (!env.real || !rng.chance(share)) return { form: 'fields', fields };
  const mutation = rng.pick(byteMutations);
  let bytes: Buffer;
  try {
    bytes = method.serialize(fields);
  } catch {
    bytes = Buffer.alloc(0); // fields protobuf cannot encode: break the empty message instead
  }
  return { form: 'bytes', bytes: mutateBytes(bytes, env.schema.message(method.request), mutation, rng), mutation };
}

export function bytesNote(p: Payload): string {
  return p.form === 'bytes' ? ` [bytes: ${p.mutation}]` : '';
}

/** A value for a one-line label: quoted, cut at 40 characters. */
export function describe(v: unknown): string {
  if (typeof v !== 'string') return String(v);
  const quoted = JSON.stringify(v.slice(0, 36));
  return v.length > 36 ? `${quoted.slice(0, -1)}…" (${v.length} chars)` : quoted;
}

/** A call's cluster field: the cluster's own name mostly (real processes), else another (which must be refused). */
export function callCluster(env: CaseEnv, rng: Prng): { fields: Record<string, unknown>; refuse: Expectation | null } {
  if (env.wire.cluster === null) return { fields: {}, refuse: null };
  if (rng.chance(0.9)) return { fields: { cluster: env.wire.cluster }, refuse: null };
  const other = rng.chance(0.5) ? rng.pick(env.wire.otherClusters) : hostileString(rng);
  return { fields: rng.chance(0.2) ? {} : { cluster: other }, refuse: { kind: 'refuse', why: 'another cluster' } };
}

