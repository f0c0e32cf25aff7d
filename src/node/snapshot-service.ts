import type { ServerStream, StreamCodec } from '../env/streams.js';
import type { Transport } from '../env/transport.js';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import { InvalidMessageError } from '../env/errors.js';
import { type Fields, object, uint } from '../env/validate.js';
import { limits } from '../options.js';
import { type AppIdentity, appNameProblem, appVersionProblem } from '../config/app-identity.js';
import type { Replica } from '../rsm/replica.js';
import { type Viewstamp, formatViewstamp } from '../rsm/viewstamp.js';

/**
 * The snapshot service (proto/snapshot.proto, `synod.node.Snapshots`): the serving primary
 * streams a consistent copy of the replicated state to `synod snapshot save`.
 *
 * Why the node's main port and not the test control service: the control service is for tests
 * (off unless `--control`, loopback only, never in production), and a backup is an operator's
 * production task. The main port already admits whoever may invoke the app (clients), and
 * anyone who may invoke it may read it.
 */
export const snapshotService = 'synod.node.Snapshots';

/** What the stream carries: `start` once, then the state's bytes in order, the last piece marked. */
export type SnapshotPiece =
  | {
    readonly kind: 'start';
    readonly node: NodeId;
    readonly clusterId: string;
    readonly app: AppIdentity;
    readonly vs: Viewstamp;
    readonly stateBytes: number;
  }
  | { readonly kind: 'data'; readonly data: Uint8Array; readonly last: boolean };

/** Nothing but the cluster name and id, which the transport sets and checks. */
export type SnapshotRequest = Record<string, never>;

export const snapshotCodec: StreamCodec<SnapshotRequest, SnapshotPiece> = {
  service: snapshotService,
  encodeRequest: () => ({}),
  decodeRequest: () => ({}),
  encodeMessage(p: SnapshotPiece): Fields {
    if (p.kind === 'data') return { data: Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength), last: p.last };
    return {
      start: {
        node: p.node, cluster_id: p.clusterId, app: { name: p.app.name, version: p.app.version },
        vs: { vid: p.vs.vid, seqno: p.vs.seqno }, state_bytes: p.stateBytes,
      },
    };
  },
  decodeMessage(wire: Fields): SnapshotPiece {
    if (wire['start'] === undefined) {
      const data = wire['data'] ?? new Uint8Array(0);
      if (!(data instanceof Uint8Array)) throw new InvalidMessageError('data', 'not bytes');
      return { kind: 'data', data, last: wire['last'] === true };
    }
    const s = object(wire['start'], 'start');
    const app = object(s['app'], 'start.app');
    const problem = appNameProblem(app['name']) ?? appVersionProblem(app['version']);
    if (problem !== null) throw new InvalidMessageError('start.app', problem);
    const clusterId = s['cluster_id'];
    if (typeof clusterId !== 'string' || clusterId.length === 0 || clusterId.length > limits.maxClusterIdLength) {
      throw new InvalidMessageError('start.cluster_id', 'not a cluster id');
    }
    const vs = object(s['vs'], 'start.vs');
    return {
      kind: 'start',
      node: String(s['node'] ?? ''),
      clusterId,
      app: { name: app['name'] as string, version: app['version'] as string },
      vs: { vid: uint(vs['vid'] ?? 0, 'start.vs.vid', 0, Number.MAX_SAFE_INTEGER), seqno: uint(vs['seqno'] ?? 0, 'start.vs.seqno', 0, Number.MAX_SAFE_INTEGER) },
      stateBytes: uint(s['state_bytes'] ?? 0, 'start.state_bytes', 0, Number.MAX_SAFE_INTEGER),
    };
  },
};

/**
 * Saves at most this many snapshots at once per node; one more is refused `overloaded`. Each
 * holds a whole copy of the state in the node's memory while it streams (the same copy a
 * compaction snapshot makes), so a few operators' tools cannot multiply it.
 */
export const maxConcurrentSnapshotSaves = 2;

export interface SnapshotServiceDeps {
  readonly self: NodeId;
  readonly transport: Pick<Transport, 'serveStream'>;
  /** What the service asks of the replica (whatever its app's state type). */
  readonly replica: Pick<Replica<never>, 'isPrimary' | 'primaryOf' | 'servingSnapshot' | 'status'>;
  readonly app: AppIdentity;
  /** The cluster's id now (a node serving as primary always has one). */
  readonly clusterId: () => string | null;
  /** Runs `fn` as a task of the node's executor and returns its result (cores are touched only there). */
  readonly inNode: <T>(fn: () => T) => T;
  /** Bytes of state per piece (`RsmOptions.stateChunkBytes`: already checked to fit a message). */
  readonly chunkBytes: number;
  readonly logger: Logger;
}

/**
 * Serves `synod.node.Snapshots` on the node's transport. Each stream asks the replica, in one
 * executor task, for the state it serves now (`Replica.servingSnapshot`); the copy is then sent
 * from outside the node's task queue, a chunk at a time, never faster than the client takes it
 * (`ServerStream.whenWritable`), while the node goes on serving. A node that is not the serving
 * primary ends the stream `not-primary` (naming the primary it knows) or `not-serving-yet`.
 */
export function serveSnapshots(deps: SnapshotServiceDeps): void {
  let saving = 0;
  deps.transport.serveStream(snapshotCodec, (_request, stream) => {
    if (saving >= maxConcurrentSnapshotSaves) {
      stream.end({ kind: 'overloaded', detail: `${deps.self} is saving ${saving} snapshots already (maxConcurrentSnapshotSaves); retry later` });
      return;
    }
    const taken = deps.inNode(() => {
      const r = deps.replica;
      if (!r.isPrimary) return { refused: 'not-primary' as const, primary: r.primaryOf() === deps.self ? null : r.primaryOf() ?? null };
      return { snapshot: r.servingSnapshot(), status: r.status, clusterId: deps.clusterId() };
    });
    if ('refused' in taken) {
      stream.end({ kind: 'not-primary', primary: taken.primary ?? null, detail: `${deps.self} is not the serving primary; ask ${taken.primary ?? 'another member'}` });
      return;
    }
    if (taken.snapshot === null || taken.clusterId === null) {
      stream.end(taken.status === 'normal'
        ? { kind: 'internal', detail: `${deps.self} cannot marshal its state (the app's marshalState fails; see the node's log)` }
        : { kind: 'not-serving-yet', detail: `${deps.self} is the primary but does not serve yet (state transfer under way)` });
      return;
    }
    saving++;
    const { vs, state } = taken.snapshot;
    deps.logger.info({ client: stream.peer, vs: formatViewstamp(vs), bytes: state.length }, 'snapshot: sending the serving state to an operator');
    stream.send({ kind: 'start', node: deps.self, clusterId: taken.clusterId, app: deps.app, vs, stateBytes: state.length });
    sendChunks(stream, state, deps.chunkBytes, (sent) => {
      saving--;
      deps.logger.info({ client: stream.peer, vs: formatViewstamp(vs), bytes: state.length, complete: sent }, sent ? 'snapshot: sent' : 'snapshot: the stream ended before it was all sent');
    });
  });
}

/** Sends `state` in pieces of `chunkBytes`, pacing on the stream; `done(true)` once the last piece was queued. */
function sendChunks(stream: ServerStream<SnapshotPiece>, state: Uint8Array, chunkBytes: number, done: (sent: boolean) => void): void {
  let offset = 0;
  const next = (): void => {
    if (!stream.open) return done(false);
    const end = Math.min(state.length, offset + chunkBytes);
    const last = end === state.length;
    if (!stream.send({ kind: 'data', data: state.subarray(offset, end), last })) return done(false);
    offset = end;
    if (last) return done(true);
    if (stream.whenWritable === undefined) setImmediate(next);
    else stream.whenWritable(next);
  };
  next();
}
