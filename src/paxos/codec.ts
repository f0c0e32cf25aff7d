import { InvalidMessageError } from '../env/errors.js';
import type { WireCodec } from '../env/transport.js';
import { type Fields, array, members, nodeId, object, uint } from '../env/validate.js';
import { limits } from '../options.js';
import type { AcceptedValue, PaxosMessage, PaxosRecord, PaxosValue } from './messages.js';
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
      return { kind, instance: instance(b['instance'], p('instance')), n: proposal(b['n'], p('n')) };
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
      return { kind, first, values };
    }
  }
}

/** Encodes one message as the envelope's `oneof body` member. */
export function encodePaxosMessage(m: PaxosMessage): Fields {
  switch (m.kind) {
    case 'prepare':
    case 'accepted':
      return { [m.kind]: { instance: m.instance, n: m.n } };
    case 'promise':
      return {
        promise: {
          instance: m.instance,
          n: m.n,
          ...(m.accepted === null ? {} : { accepted: { n: m.accepted.n, value: wireValue(m.accepted.value) } }),
        },
      };
    case 'accept':
      return { accept: { instance: m.instance, n: m.n, value: wireValue(m.value) } };
    case 'reject':
      return { reject: { instance: m.instance, n: m.n, promised: m.promised } };
    case 'decided':
      return { decided: { instance: m.instance, value: wireValue(m.value) } };
    case 'known':
      return { known: { instance: m.instance } };
    case 'fetch':
      return { fetch: { from: m.from } };
    case 'decisions':
      return { decisions: { first: m.first, values: m.values.map(wireValue) } };
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
    default:
      throw new InvalidMessageError('kind', `unknown record kind ${JSON.stringify(o['kind'])}`);
  }
}
