import { InvalidMessageError } from '../env/errors.js';
import type { WireCodec } from '../env/transport.js';
import { type Fields, nodeId, object, uint } from '../env/validate.js';
import { limits } from '../options.js';
import { type ConfigMessage, type JoinOutcome, joinOutcomes } from './messages.js';

/** Longest incarnation id accepted (a UUID is 36 characters). */
const maxIncarnationLength = 64;

function incarnation(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxIncarnationLength) {
    throw new InvalidMessageError(path, `must be 1 to ${maxIncarnationLength} characters`);
  }
  return v;
}

function vid(v: unknown, path: string): number {
  return uint(v, path, 1, limits.maxInstance);
}

export function decodeConfigMessage(wire: Fields): ConfigMessage {
  const kind = typeof wire['body'] === 'string' ? wire['body'] : ['heartbeat', 'join', 'join_reply'].find((k) => wire[k] != null);
  switch (kind) {
    case 'heartbeat': {
      const b = object(wire['heartbeat'], 'heartbeat');
      return {
        kind: 'heartbeat',
        vid: vid(b['vid'], 'heartbeat.vid'),
        incarnation: incarnation(b['incarnation'], 'heartbeat.incarnation'),
        stale: b['stale'] === true,
      };
    }
    case 'join': {
      const b = object(wire['join'], 'join');
      return { kind: 'join', incarnation: incarnation(b['incarnation'], 'join.incarnation'), vid: vid(b['vid'], 'join.vid') };
    }
    case 'join_reply': {
      const b = object(wire['join_reply'], 'join_reply');
      const outcome = b['outcome'];
      if (typeof outcome !== 'string' || !(joinOutcomes as readonly string[]).includes(outcome)) {
        throw new InvalidMessageError('join_reply.outcome', `must be one of ${joinOutcomes.join(', ')}`);
      }
      const to = outcome === 'redirect' ? nodeId(b['to'], 'join_reply.to') : null;
      return { kind: 'join-reply', vid: vid(b['vid'], 'join_reply.vid'), outcome: outcome as JoinOutcome, to };
    }
    default:
      throw new InvalidMessageError('body', 'no known message in the envelope');
  }
}

export function encodeConfigMessage(m: ConfigMessage): Fields {
  switch (m.kind) {
    case 'heartbeat':
      return { heartbeat: { vid: m.vid, incarnation: m.incarnation, stale: m.stale } };
    case 'join':
      return { join: { incarnation: m.incarnation, vid: m.vid } };
    case 'join-reply':
      return { join_reply: { vid: m.vid, outcome: m.outcome, ...(m.to === null ? {} : { to: m.to }) } };
  }
}

export const configCodec: WireCodec<ConfigMessage> = {
  service: 'synod.config.Config',
  encode: encodeConfigMessage,
  decode: decodeConfigMessage,
};
