import type { ServiceCodec } from '../env/transport.js';
import type { MemberId, Members, NodeId } from '../env/types.js';
import { type Fields, object, uint } from '../env/validate.js';
import { InvalidMessageError } from '../env/errors.js';
import { limits } from '../options.js';
import type { Viewstamp } from '../rsm/viewstamp.js';
import { type AppIdentity, appNameProblem, appVersionProblem } from '../config/app-identity.js';

/** What a node tells about itself (the node service's Status). */
export interface NodeStatus {
  readonly node: NodeId;
  /** This node as views list it (`MemberId`: its address and its data directory's disk id). */
  readonly member: MemberId;
  readonly incarnation: string;
  /**
   * The cluster's id: made when the cluster was created, kept with every node's data, carried in
   * every message between nodes. Null while this node has not learned it (a joiner with a fresh
   * data directory, before a member answered its join request).
   */
  readonly clusterId: string | null;
  readonly vid: number;
  /** Addresses of the current view's members, in order. */
  readonly members: Members;
  /** The same members as the view lists them (`MemberId`s, with disk ids). */
  readonly memberIds: Members;
  readonly primary: NodeId | null;
  /**
   * The newest views this node knows, oldest first: at most `statusViewsTail` of them, ending
   * with the current view (a status reply stays small however many views were ever decided).
   */
  readonly views: ReadonlyArray<{ readonly vid: number; readonly members: Members }>;
  /** How many views were decided up to the current one (views 1..vid; 0 before start). */
  readonly viewsDecided: number;
  readonly configStatus: string;
  readonly replicaStatus: string | null;
  readonly lastExecuted: Viewstamp | null;
  readonly stateComplete: boolean;
  readonly refusing: boolean;
  readonly inFlight: number;
  /** The app this node runs (null: none, Paxos and config only). */
  readonly app: AppIdentity | null;
  /**
   * Client requests this node's replica answered since the process started, and their summed
   * latency in seconds (`RsmMeter`): the status page's latency comes from the primary's. Zeros
   * without an app, and from nodes that do not report it.
   */
  readonly clientPath: { readonly answers: number; readonly seconds: number };
}

/**
 * Most views a status reply carries (the newest ones): enough to see the recent changes at a
 * glance and for the tester's history checks, which grow clusters from scratch; a bound so that
 * the reply does not grow with every view ever decided.
 */
export const statusViewsTail = 32;

/**
 * Whether the node serves, as `synod status` (and any health check) judges it: with an app, it
 * is a normal replica of the current view, a member of it, and the view is not refusing; without
 * an app, it is a member of a view.
 */
export function isServing(s: NodeStatus): boolean {
  if (s.vid === 0 || s.configStatus !== 'member') return false;
  return s.app === null || (s.replicaStatus === 'normal' && !s.refusing);
}

/** The app field of a status answer: absent or empty means none; a bad one is refused. */
function decodeApp(v: unknown): AppIdentity | null {
  if (v === undefined || v === null) return null;
  const o = object(v, 'status.app');
  if (o['name'] === undefined && o['version'] === undefined) return null;
  const nameProblem = appNameProblem(o['name']);
  if (nameProblem !== null) throw new InvalidMessageError('status.app.name', nameProblem);
  const versionProblem = appVersionProblem(o['version']);
  if (versionProblem !== null) throw new InvalidMessageError('status.app.version', versionProblem);
  return { name: o['name'] as string, version: o['version'] as string };
}

/** The cluster id field of a status answer: absent or empty means not learned; an absurd one is refused. */
function decodeClusterId(v: unknown): string | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string' || v.length > limits.maxClusterIdLength) {
    throw new InvalidMessageError('status.cluster_id', `must be at most ${limits.maxClusterIdLength} characters`);
  }
  return v;
}

/** The client path field of a status answer: absent means zeros (an older node); a bad one is refused. */
function decodeClientPath(v: unknown): NodeStatus['clientPath'] {
  if (v === undefined || v === null) return { answers: 0, seconds: 0 };
  const o = object(v, 'status.client_path');
  const seconds = o['seconds'] ?? 0;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) throw new InvalidMessageError('status.client_path.seconds', 'must be a finite number, at least 0');
  return { answers: uint(o['answers'] ?? 0, 'status.client_path.answers', 0, Number.MAX_SAFE_INTEGER), seconds };
}

export type StatusCall = { readonly kind: 'status' };

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

export const nodeServiceCodec: ServiceCodec<StatusCall, NodeStatus> = {
  service: 'synod.node.Node',
  encodeRequest: () => ({ status: {} }),
  decodeRequest(wire: Fields): StatusCall {
    if (wire['status'] === undefined && wire['body'] !== 'status') throw new InvalidMessageError('body', 'no known request');
    return { kind: 'status' };
  },
  encodeAnswer(s: NodeStatus): Fields {
    return {
      status: {
        node: s.node,
        member: s.member,
        incarnation: s.incarnation,
        ...(s.clusterId === null ? {} : { cluster_id: s.clusterId }),
        vid: s.vid,
        members: [...s.members],
        member_ids: [...s.memberIds],
        primary: s.primary ?? '',
        views: s.views.map((v) => ({ vid: v.vid, members: [...v.members] })),
        views_decided: s.viewsDecided,
        config_status: s.configStatus,
        replica_status: s.replicaStatus ?? '',
        ...(s.lastExecuted === null ? {} : { last_executed: s.lastExecuted }),
        state_complete: s.stateComplete,
        refusing: s.refusing,
        in_flight: s.inFlight,
        ...(s.app === null ? {} : { app: { name: s.app.name, version: s.app.version } }),
        client_path: { answers: s.clientPath.answers, seconds: s.clientPath.seconds },
      },
    };
  },
  decodeAnswer(wire: Fields): NodeStatus {
    const b = object(wire['status'], 'status');
    const last = b['last_executed'];
    const lo = last === undefined ? null : object(last, 'status.last_executed');
    return {
      node: String(b['node'] ?? ''),
      member: String(b['member'] ?? b['node'] ?? ''),
      incarnation: String(b['incarnation'] ?? ''),
      clusterId: decodeClusterId(b['cluster_id']),
      vid: uint(b['vid'], 'status.vid', 0, Number.MAX_SAFE_INTEGER),
      members: strings(b['members']),
      // Older nodes list no member ids: their views list addresses alone.
      memberIds: strings(b['member_ids']).length > 0 ? strings(b['member_ids']) : strings(b['members']),
      primary: b['primary'] === undefined || b['primary'] === '' ? null : String(b['primary']),
      views: (Array.isArray(b['views']) ? b['views'] : []).map((v, i) => {
        const o = object(v, `status.views[${i}]`);
        return { vid: uint(o['vid'], `status.views[${i}].vid`, 0, Number.MAX_SAFE_INTEGER), members: strings(o['members']) };
      }),
      viewsDecided: uint(b['views_decided'] ?? 0, 'status.views_decided', 0, Number.MAX_SAFE_INTEGER),
      configStatus: String(b['config_status'] ?? ''),
      replicaStatus: b['replica_status'] === undefined || b['replica_status'] === '' ? null : String(b['replica_status']),
      lastExecuted: lo === null ? null : { vid: uint(lo['vid'], 'vid', 0, Number.MAX_SAFE_INTEGER), seqno: uint(lo['seqno'], 'seqno', 0, Number.MAX_SAFE_INTEGER) },
      stateComplete: b['state_complete'] === true,
      refusing: b['refusing'] === true,
      inFlight: uint(b['in_flight'], 'status.in_flight', 0, Number.MAX_SAFE_INTEGER),
      app: decodeApp(b['app']),
      clientPath: decodeClientPath(b['client_path']),
    };
  },
};
