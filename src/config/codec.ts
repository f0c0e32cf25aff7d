import { InvalidMessageError } from '../env/errors.js';
import type { WireCodec } from '../env/transport.js';
import { type Fields, nodeId, object, uint } from '../env/validate.js';
import { limits } from '../options.js';
import { type AppIdentity, appNameProblem, appVersionProblem } from './app-identity.js';
import { type ConfigMessage, type JoinOutcome, joinOutcomes } from './messages.js';

/** Longest incarnation id accepted (a UUID is 36 characters). */
const maxIncarnationLength = 64;

function incarnation(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxIncarnationLength) {
    throw new InvalidMessageError(path, `must be 1 to ${maxIncarnationLength} characters`);
  }
  return v;
}

/** A cluster id as a join reply carries it: empty (absent) when the member knows none. */
function clusterId(v: unknown, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string' || v.length > limits.maxClusterIdLength) {
    throw new InvalidMessageError(path, `must be at most ${limits.maxClusterIdLength} characters`);
  }
  return v;
}

function vid(v: unknown, path: string): number {
  return uint(v, path, 1, limits.maxInstance);
}

/** An app identity, or null when the field is absent (a node without an app). */
function app(v: unknown, path: string): AppIdentity | null {
  if (v === undefined || v === null) return null;
  const b = object(v, path);
  const nameProblem = appNameProblem(b['name']);
  if (nameProblem !== null) throw new InvalidMessageError(`${path}.name`, nameProblem);
  const versionProblem = appVersionProblem(b['version']);
  if (versionProblem !== null) throw new InvalidMessageError(`${path}.version`, versionProblem);
  return { name: b['name'] as string, version: b['version'] as string };
}

function encodeApp(a: AppIdentity): Fields {
  return { name: a.name, version: a.version };
}

export function decodeConfigMessage(wire: Fields): ConfigMessage {
  const kind = typeof wire['body'] === 'string' ? wire['body'] : ['heartbeat', 'join', 'join_reply', 'join_refused'].find((k) => wire[k] != null);
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
      return {
        kind: 'join',
        incarnation: incarnation(b['incarnation'], 'join.incarnation'),
        vid: vid(b['vid'], 'join.vid'),
        app: app(b['app'], 'join.app'),
        ...(b['member'] === undefined || b['member'] === '' ? {} : { member: nodeId(b['member'], 'join.member') }),
      };
    }
    case 'join_reply': {
      const b = object(wire['join_reply'], 'join_reply');
      const outcome = b['outcome'];
      if (typeof outcome !== 'string' || !(joinOutcomes as readonly string[]).includes(outcome)) {
        throw new InvalidMessageError('join_reply.outcome', `must be one of ${joinOutcomes.join(', ')}`);
      }
      const to = outcome === 'redirect' ? nodeId(b['to'], 'join_reply.to') : null;
      return { kind: 'join-reply', vid: vid(b['vid'], 'join_reply.vid'), outcome: outcome as JoinOutcome, to, clusterId: clusterId(b['cluster_id'], 'join_reply.cluster_id') };
    }
    case 'join_refused': {
      const b = object(wire['join_refused'], 'join_refused');
      return {
        kind: 'join-refused',
        vid: vid(b['vid'], 'join_refused.vid'),
        memberApp: app(b['member_app'], 'join_refused.member_app'),
        joinerApp: app(b['joiner_app'], 'join_refused.joiner_app'),
      };
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
      return { join: { incarnation: m.incarnation, vid: m.vid, ...(m.app === null ? {} : { app: encodeApp(m.app) }), ...(m.member === undefined ? {} : { member: m.member }) } };
    case 'join-reply':
      return { join_reply: { vid: m.vid, outcome: m.outcome, ...(m.to === null ? {} : { to: m.to }), ...(m.clusterId === '' ? {} : { cluster_id: m.clusterId }) } };
    case 'join-refused':
      return {
        join_refused: {
          vid: m.vid,
          ...(m.memberApp === null ? {} : { member_app: encodeApp(m.memberApp) }),
          ...(m.joinerApp === null ? {} : { joiner_app: encodeApp(m.joinerApp) }),
        },
      };
  }
}

export const configCodec: WireCodec<ConfigMessage> = {
  service: 'synod.config.Config',
  // The join protocol: a joiner learns the cluster id from a member's join reply.
  admitsNewcomers: true,
  encode: encodeConfigMessage,
  decode: decodeConfigMessage,
};
