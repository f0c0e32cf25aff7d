/**
 * Peer messages: hostile envelopes on every channel (which a node must refuse), genuine ones
 * captured from a run of the cluster and delivered again later (which it must take in stride),
 * and genuine ones altered (what only a Byzantine peer sends). Channels are found through the
 * service targets, messages through the schema: a new channel is fuzzed without a change here.
 */
import { nodeId } from '../../src/env/validate.js';
import type { Prng } from '../sim/prng.js';
import { type CaseDraft, type CaseEnv, bytesNote, describe, free, maybeBytes } from './case-model.js';
import { anyValue, hostileNumber, hostileString } from './hostile.js';
import { randomFields } from './messages.js';
import type { MethodSchema } from './schema.js';
import { type ServiceTarget, serviceTargets } from './services.js';
import { judgeClusterId } from '../../src/env/cluster-id.js';

/** A genuine message between two nodes of a run, as its envelope's body fields (no addressing). */
export interface CapturedEnvelope {
  readonly service: string;
  readonly from: string;
  readonly to: string;
  readonly body: Record<string, unknown>;
}

/** The peer channels of a target. */
function channels(env: CaseEnv): ServiceTarget[] {
  return serviceTargets.filter((t) => t.role === 'channel' && env.served.has(t.service));
}

/** Which kind of message a body holds (the name of its oneof member), for labels. */
function kindOf(body: Record<string, unknown>): string {
  const kind = typeof body['body'] === 'string' ? body['body'] : Object.keys(body).find((k) => !['from', 'to', 'cluster'].includes(k));
  return kind ?? '(none)';
}

function short(service: string): string {
  return service.slice(service.lastIndexOf('.') + 1).toLowerCase();
}

/** The envelope a target sends: the simulator's carries the addressing its transport writes, real ones the cluster name too. */
function envelope(env: CaseEnv, body: Record<string, unknown>, from: string, to: string): Record<string, unknown> {
  const id = env.wire.clusterId === null ? {} : { cluster_id: env.wire.clusterId };
  return env.real ? { ...body, from, to, cluster: env.wire.cluster, ...id } : { from, to, ...body };
}

/**
 * Why a node refuses `fields` on channel `t` when it arrives at node `to`, or null if it takes
 * it in: on real processes the transport's envelope checks first (a node id in `from` and `to`,
 * this cluster's name, addressed to this node; see `GrpcTransport`), on the fields as protobuf
 * will hand them over; then the channel's codec.
 */
export function channelRefusal(env: CaseEnv, t: ServiceTarget, method: MethodSchema, fields: Record<string, unknown>, to: string): string | null {
  try {
    const seen = env.real ? method.deserializeRequest(method.serialize(fields)) : fields;
    if (env.real) {
      nodeId(seen['from'], 'from');
      const addressee = nodeId(seen['to'], 'to');
      if (seen['cluster'] !== env.wire.cluster) return 'another cluster';
      // The transport's own rule (an empty id passes on a channel that admits newcomers).
      const theirs = typeof seen['cluster_id'] === 'string' ? seen['cluster_id'] : '';
      if (env.wire.clusterId !== null && judgeClusterId(env.wire.clusterId, theirs, t.admitsNewcomers === true) !== 'admitted') return 'another cluster id';
      if (addressee !== to) return 'addressed to another node';
    }
    t.decode!(seen);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** A peer message the node must refuse: hostile fields, or a genuine message broken in one place. */
export function peerCase(env: CaseEnv, rng: Prng): CaseDraft | null {
  const t = rng.pick(channels(env));
  const method = env.schema.method(t.service);
  const target = rng.int(env.wire.nodes.length);
  const to = env.wire.nodes[target]!;
  const captured = env.captured.filter((c) => c.service === t.service);
  for (let attempt = 0; attempt < 20; attempt++) {
    const genuine = captured.length > 0 && rng.chance(0.4) ? rng.pick(captured) : null;
    const fields = genuine === null
      ? randomFields(env.schema, method.request, rng, env.wire, 0.5, to)
      : envelope(env, breakOneValue(env, genuine.body, rng), rng.chance(0.7) ? genuine.from : rng.pick(env.wire.strangers), to);
    const refusal = channelRefusal(env, t, method, fields, to);
    if (refusal === null) continue;
    const from = typeof fields['from'] === 'string' && fields['from'].length > 0 ? fields['from'] : rng.pick(env.wire.strangers);
    // On real processes, sometimes the bytes broken too, of an envelope of another cluster (refused whatever the bytes say).
    const payload = maybeBytes(env, method, env.real ? { ...fields, cluster: 'zz-another-cluster' } : fields, rng, 0.25);
    return {
      service: t.service, method: method.name, to: target, toPrimary: false, from, payload,
      expect: payload.form === 'bytes' ? free : { kind: 'refuse', why: refusal },
      label: `${short(t.service)}.${kindOf(fields)} from ${describe(from)}${genuine === null ? '' : ' (genuine, broken)'}${bytesNote(payload)}: ${refusal.slice(0, 80)}`,
    };
  }
  return null;
}

/** A genuine message delivered again, to its addressee, from its sender, later than it was sent. */
export function replayCase(env: CaseEnv, rng: Prng): CaseDraft | null {
  if (env.captured.length === 0) return null;
  const c = rng.pick(env.captured);
  const target = env.wire.nodes.indexOf(c.to);
  if (target < 0) return null;
  const method = env.schema.method(c.service);
  return {
    service: c.service, method: method.name, to: target, toPrimary: false, from: c.from,
    payload: { form: 'fields', fields: envelope(env, c.body, c.from, c.to) }, expect: free,
    label: `replay ${short(c.service)}.${kindOf(c.body)} ${c.from}>${c.to}`,
  };
}

/** A well-formed peer message with a forged sender or altered values (a Byzantine peer's). */
export function forgeCase(env: CaseEnv, rng: Prng): CaseDraft | null {
  const t = rng.pick(channels(env));
  const method = env.schema.method(t.service);
  const target = rng.int(env.wire.nodes.length);
  const to = env.wire.nodes[target]!;
  const captured = env.captured.filter((c) => c.service === t.service);
  const from = rng.chance(0.7) ? rng.pick(env.wire.nodes) : rng.pick(env.wire.strangers);
  const genuine = captured.length > 0 && rng.chance(0.7) ? rng.pick(captured) : null;
  const fields = genuine === null
    ? randomFields(env.schema, method.request, rng, env.wire, 0.9, to)
    : envelope(env, alterOneValue(env, genuine.body, rng), from, to);
  const sender = typeof fields['from'] === 'string' && fields['from'].length > 0 ? fields['from'] : from;
  const payload = maybeBytes(env, method, fields, rng, 0.1);
  return {
    service: t.service, method: method.name, to: target, toPrimary: false, from: sender, payload, expect: free,
    label: `forged ${short(t.service)}.${kindOf(fields)} from ${describe(sender)}${genuine === null ? '' : ' (genuine, altered)'}${bytesNote(payload)}`,
  };
}

/** Every leaf of a message (scalars, byte strings and lists), by path. */
function leaves(value: unknown, path: readonly (string | number)[] = []): Array<readonly (string | number)[]> {
  if (Array.isArray(value)) return [path, ...value.flatMap((v, i) => leaves(v, [...path, i]))];
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
    return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [path];
}

/** A copy of `body` with the value at one random leaf replaced by `replace(old)`. */
function withLeaf(body: Record<string, unknown>, rng: Prng, replace: (old: unknown) => unknown): Record<string, unknown> {
  const copy = structuredClone(body);
  const paths = leaves(copy).filter((p) => p.length > 0);
  if (paths.length === 0) return copy;
  const path = rng.pick(paths);
  let parent: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  const value = replace(parent[last]);
  if (value === undefined && !Array.isArray(parent)) delete parent[last];
  else parent[last] = value;
  return copy;
}

/** One value broken: hostile, of another type (the simulator), or gone. */
function breakOneValue(env: CaseEnv, body: Record<string, unknown>, rng: Prng): Record<string, unknown> {
  return withLeaf(body, rng, (old) => {
    if (rng.chance(0.15)) return undefined;
    if (env.wire.anyTypes && rng.chance(0.4)) return anyValue(rng, env.wire.nodes);
    if (typeof old === 'number') return hostileNumber(rng);
    if (Array.isArray(old)) return rng.chance(0.5) ? [] : [...old, ...old];
    return hostileString(rng, env.wire.strangers);
  });
}

/** One value changed to another it could plausibly have: a neighbouring number, another node, one more member. */
function alterOneValue(env: CaseEnv, body: Record<string, unknown>, rng: Prng): Record<string, unknown> {
  return withLeaf(body, rng, (old) => {
    if (typeof old === 'number') return Math.max(0, rng.pick([old + 1, old - 1, old + 2, old * 2, old + 1000, 0, Number.MAX_SAFE_INTEGER - 1]));
    if (typeof old === 'boolean') return !old;
    if (typeof old === 'string') return rng.pick([...env.wire.nodes, ...env.wire.strangers, ...env.wire.words]);
    if (Array.isArray(old)) return rng.chance(0.5) ? [...old, rng.pick(env.wire.strangers)] : old.slice(1);
    return old;
  });
}
