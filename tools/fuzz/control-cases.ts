/**
 * Requests of the test control service (`synod.control.Control`, real processes only). The
 * service exists to hurt nodes on purpose (design §7): a breakpoint kills, a partition cuts a
 * node off, a proposal decides a view. Those documented powers are the `control-effects` family;
 * the `control` family sends everything else (reads, heals, and requests the service must
 * refuse), after which every node must still be up and serving.
 */
import { limits } from '../../src/options.js';
import { members, uint } from '../../src/env/validate.js';
import type { Prng } from '../sim/prng.js';
import { type CaseDraft, type CaseEnv, free, maybeBytes } from './case-model.js';
import { randomFields } from './messages.js';
import { serviceTargets } from './services.js';

/**
 * Which documented power a request (as the node reads it) would use, or null: isolating the node
 * or cutting it from a member, arming a crash breakpoint, proposing a valid view.
 */
export function controlPower(method: string, r: Record<string, unknown>, nodes: readonly string[]): string | null {
  const ok = (check: () => unknown): boolean => {
    try {
      check();
      return true;
    } catch {
      return false;
    }
  };
  switch (method) {
    case 'Partition': {
      const peers = Array.isArray(r['peers']) ? r['peers'] : [];
      return r['isolate'] === true || peers.some((p) => nodes.includes(p as string)) ? 'partition' : null;
    }
    case 'Breakpoint': {
      const n = r['breakpoint'];
      return r['disarm'] !== true && typeof n === 'number' && n >= 1 && n <= 4 ? `breakpoint ${n}` : null;
    }
    case 'Propose':
      return ok(() => uint(r['instance'], 'instance', 2, limits.maxInstance)) && ok(() => members(r['members'], 'members')) ? 'propose' : null;
    default:
      return null;
  }
}

/** A control request: one of its powers (`powers`), or anything but them. */
export function controlCase(env: CaseEnv, rng: Prng, powers: boolean): CaseDraft | null {
  const service = serviceTargets.find((t) => t.role === 'control')!.service;
  const s = env.schema.service(service);
  for (let attempt = 0; attempt < 20; attempt++) {
    const method = rng.pick(s.methods);
    const fields = randomFields(env.schema, method.request, rng, env.wire, 0.6);
    if (method.name === 'Partition' && rng.chance(0.3)) fields['peers'] = [rng.pick(env.wire.nodes)];
    let seen: Record<string, unknown>;
    try {
      seen = method.deserializeRequest(method.serialize(fields));
    } catch {
      continue;
    }
    const power = controlPower(method.name, seen, env.wire.nodes);
    if ((power !== null) !== powers) continue;
    // Broken bytes may turn into a power: only the read-only methods get them.
    const readOnly = method.name === 'Status' || method.name === 'PaxosStatus';
    const payload = readOnly ? maybeBytes(env, method, fields, rng, 0.2) : { form: 'fields' as const, fields };
    return {
      service, method: method.name, to: rng.int(env.wire.nodes.length), toPrimary: false, from: 'fuzz-machine', payload, expect: free,
      label: `control ${method.name}${power === null ? '' : ` (${power})`}${payload.form === 'bytes' ? ` [bytes: ${payload.mutation}]` : ''}`,
    };
  }
  return null;
}
