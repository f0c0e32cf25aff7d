/**
 * Fuzz cases: one message to one node's service, with what the documented rules demand of it.
 * A batch's cases are drawn from its seed alone (the cluster they aim at only names the nodes),
 * so the same seed sends the same input to the simulator every time, and to real processes.
 *
 * Families, by who could send the input and so what must hold after it:
 * - client, callbacks, feeds, status: anything a client may send (requests, app arguments,
 *   callback subscriptions, feed subscriptions, status calls);
 * - peer: peer messages a node must refuse (they fail its codec, or, on real processes, name
 *   another cluster or another addressee);
 * - replay: a peer's genuine messages again, later and out of order (simulator);
 * - control: the test control service's requests that are not its documented powers (real);
 * - forge: well-formed peer messages with forged senders and altered values, as only a peer
 *   could send them (a Byzantine peer, which Paxos does not tolerate: see `forgeFamilies`);
 * - control-effects: the control service's powers themselves (kill, partition, propose).
 */
import { limits } from '../../src/options.js';
import { callbacksCodec } from '../../src/rsm/callbacks-wire.js';
import { feedsCodec } from '../../src/rsm/feeds-wire.js';
import type { Prng } from '../sim/prng.js';
import { type AppRequest, type Breach, appRequest } from './app-args.js';
import { type CaseDraft, type CaseEnv, type Expectation, type Family, type FuzzCase, bytesNote, callCluster, describe, free, fuzzMachine, maybeBytes } from './case-model.js';
import { feedsCase } from './feed-cases.js';
import { controlCase } from './control-cases.js';
import { forgeCase, peerCase, replayCase } from './envelopes.js';
import { hostileNumber, hostileString } from './hostile.js';
import { randomFields } from './messages.js';
import type { MethodSchema } from './schema.js';
import { type ServiceTarget, serviceTargets } from './services.js';

/** How much of a batch each family gets (of those enabled and served by the target). */
const weights: Record<Family, number> = {
  client: 35, callbacks: 8, feeds: 8, status: 5, peer: 25, replay: 12, control: 8, forge: 30, 'control-effects': 3,
};

/** `count` cases of `enabled` families (those the target serves), drawn from `rng` alone. */
export function drawCases(env: CaseEnv, enabled: readonly Family[], count: number, rng: Prng): FuzzCase[] {
  const usable = enabled.filter((f) => served(env, f));
  if (usable.length === 0) return [];
  const total = usable.reduce((sum, f) => sum + weights[f], 0);
  const cases: FuzzCase[] = [];
  while (cases.length < count) {
    let r = rng.next() * total;
    const family = usable.find((f) => (r -= weights[f]) < 0) ?? usable[usable.length - 1]!;
    const draft = draftCase(env, family, rng);
    if (draft !== null) cases.push({ id: cases.length, family, ...draft });
  }
  return cases;
}

/** Whether the target serves a service a family's cases go to. */
function served(env: CaseEnv, family: Family): boolean {
  const has = (role: ServiceTarget['role']): boolean => serviceTargets.some((t) => t.role === role && env.served.has(t.service));
  switch (family) {
    case 'status': return env.served.has('synod.node.Node');
    case 'control':
    case 'control-effects': return has('control');
    case 'replay': return env.captured.length > 0;
    case 'callbacks': return env.served.has(callbacksCodec.service);
    case 'feeds': return env.served.has(feedsCodec.service);
    case 'client': return env.served.has('synod.rsm.Client');
    default: return has('channel');
  }
}

/** One case of `family`, or null when the draw gave nothing usable (the caller draws again). */
function draftCase(env: CaseEnv, family: Family, rng: Prng): CaseDraft | null {
  switch (family) {
    case 'client': return clientCase(env, rng);
    case 'callbacks': return callbacksCase(env, rng);
    case 'feeds': return feedsCase(env, rng);
    case 'status': return statusCase(env, rng);
    case 'peer': return peerCase(env, rng);
    case 'replay': return replayCase(env, rng);
    case 'forge': return forgeCase(env, rng);
    case 'control': return controlCase(env, rng, false);
    case 'control-effects': return controlCase(env, rng, true);
  }
}

const clientService = 'synod.rsm.Client';

/** A client's call: mostly an app request with random arguments, also `members` and anything at all. */
function clientCase(env: CaseEnv, rng: Prng): CaseDraft {
  const r = rng.next();
  const cluster = callCluster(env, rng);
  const toPrimary = rng.chance(0.7);
  const to = rng.int(env.wire.nodes.length);
  const method = env.schema.method(clientService, 'Call');
  if (r < 0.75) {
    const req = appRequest(env.app, rng, env.real);
    const clientId = rng.chance(0.7) ? `fuzz-${rng.int(50)}` : hostileString(rng);
    const seq = rng.chance(0.8) ? rng.between(1, 1000) : hostileNumber(rng);
    // Most requests say their client is new (`first`): the client table refuses an unknown
    // client's unmarked request (`client-expired`) before the app sees it, and an app whose
    // handlers never run is not fuzzed. Derived from the draws already made, so a seed's cases
    // are the ones it drew before the mark was sent.
    const first = typeof seq === 'number' && seq % 4 !== 0;
    const fields = { ...cluster.fields, invoke: { request: { client_id: clientId, seq, proc: req.proc, args: req.argsText, ...(first ? { first } : {}) } } };
    const payload = maybeBytes(env, method, fields, rng, 0.1);
    const expect = payload.form === 'bytes' ? free : cluster.refuse ?? requestRule(env, method, fields, req);
    return { service: clientService, method: method.name, to, toPrimary, from: fuzzMachine, payload, expect,
      label: `invoke ${describe(req.proc)}(${req.shape}, ${req.argsText.length} chars) as ${describe(clientId)}#${String(seq)}${bytesNote(payload)}` };
  }
  const fields = r < 0.85 ? { ...cluster.fields, members: {} } : randomFields(env.schema, method.request, rng, env.wire, 0.3);
  const payload = maybeBytes(env, method, fields, rng, 0.2);
  return { service: clientService, method: method.name, to, toPrimary, from: fuzzMachine, payload, expect: r < 0.85 ? cluster.refuse ?? free : free,
    label: `${r < 0.85 ? 'members' : 'random call'}${bytesNote(payload)}` };
}

/**
 * What the rules demand of an app request, judged on the fields as the node will read them: the
 * app's rule (app-args.ts) plus the request's own fields. A refusal of a request that breaks
 * exactly one JSON limit must name it (issue 12: "a typed INVALID_ARGUMENT naming the limit").
 */
function requestRule(env: CaseEnv, method: MethodSchema, fields: Record<string, unknown>, req: AppRequest): Expectation {
  const seen = env.real ? method.deserializeRequest(method.serialize(fields)) : fields;
  const r = ((seen['invoke'] as Record<string, unknown> | undefined)?.['request'] ?? {}) as Record<string, unknown>;
  const id = r['client_id'];
  const seq = r['seq'] ?? 0;
  const breaches: Breach[] = req.rule.kind === 'refuse' ? [...req.rule.breaches] : [];
  if (typeof id !== 'string' || id.length === 0 || id.length > limits.maxClientIdLength) breaches.push({ field: 'client_id', limit: 'limits.maxClientIdLength' });
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) breaches.push({ field: 'seq', limit: 'from 1 to 2^53 - 1' });
  if (breaches.length === 0) return req.rule.kind === 'unknown-procedure' ? req.rule : free;
  const why = breaches.map((b) => `${b.field}: ${b.limit}`).join('; ');
  const only = breaches.length === 1 ? breaches[0]!.limit : '';
  return only === 'limits.maxJsonDepth' || only === 'limits.maxRequestBytes' ? { kind: 'refuse', why, names: only } : { kind: 'refuse', why };
}

function callbacksCase(env: CaseEnv, rng: Prng): CaseDraft {
  const cluster = callCluster(env, rng);
  const owner = rng.chance(0.5) ? `fuzz-owner-${rng.int(20)}` : hostileString(rng);
  const method = env.schema.method('synod.rsm.Callbacks');
  const fields = { ...cluster.fields, owner };
  const payload = maybeBytes(env, method, fields, rng, 0.1);
  const bad = owner.length === 0 || owner.length > limits.maxClientIdLength;
  const expect: Expectation = payload.form === 'bytes' ? free : cluster.refuse ?? (bad ? { kind: 'refuse', why: 'owner empty or too long' } : free);
  return { service: method.service, method: method.name, to: rng.int(env.wire.nodes.length), toPrimary: rng.chance(0.5), from: fuzzMachine, payload, expect,
    label: `subscribe owner ${describe(owner)}${bytesNote(payload)}` };
}

function statusCase(env: CaseEnv, rng: Prng): CaseDraft {
  const method = env.schema.method('synod.node.Node');
  const cluster = callCluster(env, rng);
  const fields = rng.chance(0.5) ? { ...cluster.fields, status: {} } : randomFields(env.schema, method.request, rng, env.wire, 0.5);
  const payload = maybeBytes(env, method, fields, rng, 0.2);
  return { service: method.service, method: method.name, to: rng.int(env.wire.nodes.length), toPrimary: false, from: fuzzMachine, payload, expect: free,
    label: `status call${bytesNote(payload)}` };
}
