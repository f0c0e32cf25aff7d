import { InvalidMessageError } from '../env/errors.js';
import type { WireCodec } from '../env/transport.js';
import { type Fields, array, members, nodeId, object, uint } from '../env/validate.js';
import { limits } from '../options.js';
import type { AcceptedValue, AcceptorSlotRecord, PaxosMessage, PaxosRecord, PaxosSnapshot, PaxosValue } from './messages.js';
import type { ProposalNumber } from './proposal-number.js';


function instance(v: unknown, path: string): number {
  return uint(v, path, 1, limits.maxInstance);
}

function proposal(v: unknown, path: string): ProposalNumber {
  const o = object(v, path);
  return { round: uint(o['round'], `${path}.round`, 1, limits.maxRound), node: nodeId(o['node'], `${path}.node`) };
}

function value(v: unknown, path: string): PaxosValue {
  return members(v, path);
}

/** A prepare's or accept's `acceptor`: absent or empty (an older sender) means any. */
function acceptorField(v: unknown, path: string): { acceptor?: string } {
  return v === undefined || v === null || v === '' ? {} : { acceptor: nodeId(v, path) };
}

function wireAcceptor(m: { readonly acceptor?: string }): Fields {
  return m.acceptor === undefined ? {} : { acceptor: m.acceptor };
}

function wireValue(v: PaxosValue): Fields {
  return { members: [...v] };
}

function acceptedValue(v: unknown, path: string): AcceptedValue | null {
  if (v === undefined || v === null) return null;
  const o = object(v, path);
  return { n: proposal(o['n'], `${path}.n`), value: value(o['value'], `${path}.value`) };
}

const kinds = ['prepare', 'promise', 'accept', 'accepted', 'reject', 'decided', 'known', 'fetch', 'decisions'] as const;

/** Which member of the envelope's `oneof body` is set. */
function bodyKind(wire: Fields): (typeof kinds)[number] {
  const named = wire['body'];
  const kind = typeof named === 'string' ? named : kinds.find((k) => wire[k] !== undefined && wire[k] !== null);
  if (kind === undefined || !(kinds as readonly string[]).includes(kind)) {
    throw new InvalidMessageError('body', 'no known message in the envelope');
  }
  return kind as (typeof kinds)[number];
}

/** Checks one decoded message body; shared by the wire codec and tests. */
export function decodePaxosMessage(wire: Fields): PaxosMessage {
  const kind = bodyKind(wire);
  const b = object(wire[kind], kind);
  const p = (field: string): string => `${kind}.${field}`;
  switch (kind) {
    case 'prepare':
      return { kind, instance: instance(b['instance'], p('instance')), n: proposal(b['n'], p('n')), ...acceptorField(b['acceptor'], p('acceptor')) };
    case 'promise':
      return {
        kind,
        instance: instance(b['instance'], p('instance')),
        n: proposal(b['n'], p('n')),
        accepted: acceptedValue(b['accepted'], p('accepted')),
      };
    case 'accept':
      return {
        kind,
        instance: instance(b['instance'], p('instance')),
        n: proposal(b['n'], p('n')),
        value: value(b['value'], p('value')),
        ...acceptorField(b['acceptor'], p('acceptor')),
      };
    case 'accepted':
      return { kind, instance: instance(b['instance'], p('instance')), n: proposal(b['n'], p('n')) };
    case 'reject':
      return {
        kind,
        instance: instance(b['instance'], p('instance')),
        n: proposal(b['n'], p('n')),
        promised: proposal(b['promised'], p('promised')),
      };
    case 'decided':
      return { kind, instance: instance(b['instance'], p('instance')), value: value(b['value'], p('value')) };
    case 'known':
      return { kind, instance: instance(b['instance'], p('instance')) };
    case 'fetch':
      return { kind, from: instance(b['from'], p('from')) };
    case 'decisions': {
      const values = array(b['values'], p('values'), limits.maxDecisionsPerMessage).map((v, i) => value(v, `${p('values')}[${i}]`));
      if (values.length === 0) throw new InvalidMessageError(p('values'), 'no values');
      const first = instance(b['first'], p('first'));
      if (first + values.length - 1 > limits.maxInstance) throw new InvalidMessageError(p('first'), 'out of range');
      return { kind, first, values, ...(b['compacted'] === true ? { compacted: true } : {}) };
    }
  }
}

/** Encodes one message as the envelope's `oneof body` member. */
export function encodePaxosMessage(m: PaxosMessage): Fields {
  switch (m.kind) {
    case 'prepare':
      return { prepare: { instance: m.instance, n: m.n, ...wireAcceptor(m) } };
    case 'accepted':
      return { accepted: { instance: m.instance, n: m.n } };
    case 'promise':
      return {
        promise: {
          instance: m.instance,
          n: m.n,
          ...(m.accepted === null ? {} : { accepted: { n: m.accepted.n, value: wireValue(m.accepted.value) } }),
        },
      };
    case 'accept':
      return { accept: { instance: m.instance, n: m.n, value: wireValue(m.value), ...wireAcceptor(m) } };
    case 'reject':
      return { reject: { instance: m.instance, n: m.n, promised: m.promised } };
    case 'decided':
      return { decided: { instance: m.instance, value: wireValue(m.value) } };
    case 'known':
      return { known: { instance: m.instance } };
    case 'fetch':
      return { fetch: { from: m.from } };
    case 'decisions':
      return { decisions: { first: m.first, values: m.values.map(wireValue), ...(m.compacted === true ? { compacted: true } : {}) } };
  }
}

export const paxosCodec: WireCodec<PaxosMessage> = {
  service: 'synod.paxos.Paxos',
  encode: encodePaxosMessage,
  decode: decodePaxosMessage,
};

/** Checks one record replayed from the durable log. */
export function decodePaxosRecord(v: unknown): PaxosRecord {
  const o = object(v, 'record');
  switch (o['kind']) {
    case 'promise':
      return { kind: 'promise', instance: instance(o['instance'], 'instance'), n: proposal(o['n'], 'n') };
    case 'accept':
      return {
        kind: 'accept',
        instance: instance(o['instance'], 'instance'),
        n: proposal(o['n'], 'n'),
        value: value(o['value'], 'value'),
      };
    case 'decide':
      return { kind: 'decide', instance: instance(o['instance'], 'instance'), value: value(o['value'], 'value') };
    case 'round':
      return { kind: 'round', round: uint(o['round'], 'round', 1, limits.maxRound) };
    case 'snapshot':
      return { kind: 'snapshot', snapshot: decodePaxosSnapshot(o['snapshot'], 'snapshot'), why: String(o['why'] ?? '') };
    default:
      throw new InvalidMessageError('kind', `unknown record kind ${JSON.stringify(o['kind'])}`);
  }
}

/**
 * Most entries (decided values or acceptor slots) a snapshot may hold: far above what any
 * setting of `PaxosOptions.retainedViews` keeps; a bound so that a damaged length is refused.
 */
export const maxSnapshotEntries = 1_000_000;

function slotRecord(v: unknown, path: string): AcceptorSlotRecord {
  const o = object(v, path);
  const promised = o['promised'] === null || o['promised'] === undefined ? null : proposal(o['promised'], `${path}.promised`);
  return { instance: instance(o['instance'], `${path}.instance`), promised, accepted: acceptedValue(o['accepted'], `${path}.accepted`) };
}

/**
 * Checks a snapshot read back from disk (`PaxosSnapshot`): the decided instances ascending, the
 * first one and those up to the first gap contiguous, slots only for instances not decided.
 */
export function decodePaxosSnapshot(v: unknown, path: string): PaxosSnapshot {
  const o = object(v, path);
  const decided = array(o['decided'], `${path}.decided`, maxSnapshotEntries).map((d, i) => {
    const e = object(d, `${path}.decided[${i}]`);
    return { instance: instance(e['instance'], `${path}.decided[${i}].instance`), value: value(e['value'], `${path}.decided[${i}].value`) };
  });
  if (decided.length === 0) throw new InvalidMessageError(`${path}.decided`, 'no decided value (a snapshot keeps at least its oldest view)');
  for (let i = 1; i < decided.length; i++) {
    if (decided[i]!.instance <= decided[i - 1]!.instance) throw new InvalidMessageError(`${path}.decided[${i}]`, 'instances out of order');
  }
  const known = new Set(decided.map((d) => d.instance));
  const slots = array(o['slots'], `${path}.slots`, maxSnapshotEntries).map((s, i) => slotRecord(s, `${path}.slots[${i}]`));
  for (const [i, s] of slots.entries()) {
    if (known.has(s.instance)) throw new InvalidMessageError(`${path}.slots[${i}]`, `acceptor state for decided instance ${s.instance}`);
  }
  return { decided, slots, round: uint(o['round'], `${path}.round`, 0, limits.maxRound) };
}
