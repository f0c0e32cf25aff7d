/**
 * Random messages of any type of the schema, as field maps: what a hostile or broken peer or
 * client sends. Values are drawn per field kind, some plausible (small counts, the cluster's own
 * node ids: input that passes the codec and reaches the cores), the rest hostile (see hostile.ts).
 * In the simulator a wire object reaches the codecs as it is, so values may also be of any JS
 * type at all; for real processes they must be what protobuf can encode (the bytes mutations of
 * wire-bytes.ts bring the wrong types there).
 */
import { joinOutcomes } from '../../src/config/messages.js';
import { syncActions } from '../../src/rsm/messages.js';
import type { Prng } from '../sim/prng.js';
import { anyValue, hostileNumber, hostileString, prototypeKeys, randomText } from './hostile.js';
import type { FieldSchema, MessageSchema, WireSchema } from './schema.js';

/** What the messages of one target are made of. */
export interface WireEnv {
  /** The cluster's node ids. */
  readonly nodes: readonly string[];
  /** Node ids of nobody in the cluster. */
  readonly strangers: readonly string[];
  /** The cluster's name (what every envelope and call carries); null in the simulator, which has none. */
  readonly cluster: string | null;
  /** Names of other clusters, and names that are not names. */
  readonly otherClusters: readonly string[];
  /**
   * The cluster's id, where envelopes and control requests carry one (`cluster_id`, read from a
   * node's status); null where the wire has none or the simulator sets it (sim-target.ts).
   */
  readonly clusterId: string | null;
  /** Values of any JS type (the simulator); else only what protobuf encodes (real processes). */
  readonly anyTypes: boolean;
  /** Words a field may plausibly hold besides node ids (enum-like strings, the app's procedures). */
  readonly words: readonly string[];
}

/** Words of the wire's enum-like strings, known from the codecs' own lists. */
export const wireWords: readonly string[] = [...joinOutcomes, ...syncActions];

/** Messages nest at most this deep (no synod message is recursive; this bounds a generator bug). */
const maxDepth = 6;

/**
 * Roughly how many bytes of values one message may hold: past it, fields get small plausible
 * values. Lists of a thousand lists of a thousand 1 MiB strings would otherwise be drawn (a
 * message of gigabytes); one value above the gRPC message limit still fits under it.
 */
const messageBudgetBytes = 6 * 1024 * 1024;

/** What one message's generation has spent of `messageBudgetBytes`. */
interface Budget {
  spent: number;
}

/**
 * A random message of type `name`. `plausible` is the share of values drawn to pass the codec's
 * checks (the rest are hostile); `to` fills a top-level `to` field (the addressee) most of the time.
 */
export function randomFields(schema: WireSchema, name: string, rng: Prng, env: WireEnv, plausible: number, to?: string): Record<string, unknown> {
  return messageValue(schema, schema.message(name), rng, env, plausible, 0, { spent: 0 }, to);
}

function messageValue(schema: WireSchema, m: MessageSchema, rng: Prng, env: WireEnv, plausible: number, depth: number, budget: Budget, to?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const oneofs = new Map<string, FieldSchema[]>();
  for (const f of m.fields) {
    if (f.oneof !== null) {
      oneofs.set(f.oneof, [...(oneofs.get(f.oneof) ?? []), f]);
      continue;
    }
    if (!rng.chance(0.85)) continue;
    out[f.name] = depth === 0 ? envelopeField(f, rng, env, plausible, to) ?? fieldValue(schema, f, rng, env, plausible, depth, budget) : fieldValue(schema, f, rng, env, plausible, depth, budget);
  }
  // A oneof: mostly one member set, now and then none or two (protobuf keeps the last).
  for (const members of oneofs.values()) {
    const count = rng.chance(0.85) ? 1 : rng.pick([0, 2]);
    for (const f of rng.shuffle(members).slice(0, count)) out[f.name] = fieldValue(schema, f, rng, env, plausible, depth, budget);
  }
  if (env.anyTypes && rng.chance(0.1)) out[rng.chance(0.5) ? rng.pick(prototypeKeys) : randomText(rng, 6)] = anyValue(rng, env.nodes);
  if (env.anyTypes && oneofs.size > 0 && rng.chance(0.05)) out['body'] = hostileString(rng, [...oneofs.values()].flat().map((f) => f.name));
  return out;
}

/** The addressing fields every envelope and call carries (`from`, `to`, `cluster`, `cluster_id`), drawn as such. */
function envelopeField(f: FieldSchema, rng: Prng, env: WireEnv, plausible: number, to?: string): unknown {
  if (f.kind !== 'string' || f.repeated) return undefined;
  const sane = rng.chance(plausible);
  switch (f.name) {
    case 'from': return sane ? rng.pick([...env.nodes, ...env.strangers]) : hostileString(rng, env.strangers);
    case 'to': return sane && to !== undefined ? to : rng.chance(0.5) ? rng.pick(env.nodes) : hostileString(rng, env.strangers);
    case 'cluster': return sane && env.cluster !== null ? env.cluster : rng.chance(0.7) ? rng.pick(env.otherClusters) : hostileString(rng);
    case 'cluster_id': return sane && env.clusterId !== null ? env.clusterId : rng.chance(0.5) ? 'zz-another-cluster-id' : hostileString(rng);
    default: return undefined;
  }
}

function fieldValue(schema: WireSchema, f: FieldSchema, rng: Prng, env: WireEnv, plausible: number, depth: number, budget: Budget): unknown {
  if (env.anyTypes && rng.chance(0.08) && budget.spent < messageBudgetBytes) return spend(budget, anyValue(rng, env.nodes));
  if (!f.repeated) return scalarOrMessage(schema, f, rng, env, plausible, depth, budget);
  const length = rng.chance(0.9) || budget.spent >= messageBudgetBytes ? rng.between(0, 4) : rng.pick([65, 1025]);
  return Array.from({ length }, () => scalarOrMessage(schema, f, rng, env, plausible, depth, budget));
}

function scalarOrMessage(schema: WireSchema, f: FieldSchema, rng: Prng, env: WireEnv, plausible: number, depth: number, budget: Budget): unknown {
  const sane = rng.chance(plausible) || budget.spent >= messageBudgetBytes;
  switch (f.kind) {
    case 'message':
      return depth >= maxDepth ? {} : messageValue(schema, schema.message(f.message!), rng, env, plausible, depth + 1, budget);
    case 'string':
      return spend(budget, sane ? rng.pick([...env.nodes, ...env.strangers, ...env.words]) : hostileString(rng, [...env.nodes, ...env.otherClusters]));
    case 'bool':
      return rng.chance(0.5);
    case 'bytes':
      return spend(budget, randomBytes(rng, sane ? rng.pick([0, 1, 16]) : rng.pick([1024, 65_536])));
    case 'uint':
    case 'int':
    case 'enum':
      return sane ? rng.between(0, 6) : hostileNumber(rng);
    case 'float':
      return sane ? rng.uniform(0, 10) : hostileNumber(rng);
  }
}

/** `value`, counted against the budget (strings and byte strings by length, anything else a little). */
function spend<T>(budget: Budget, value: T): T {
  budget.spent += typeof value === 'string' || value instanceof Uint8Array ? value.length : Array.isArray(value) ? value.length * 8 : 8;
  return value;
}

export function randomBytes(rng: Prng, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = rng.int(256);
  return b;
}
