/**
 * `synod snapshot save HOST:PORT FILE`: asks any member where the serving primary is (its
 * status, as `synod status` reads it), opens the primary's snapshot stream
 * (`synod.node.Snapshots`, src/node/snapshot-service.ts), and writes what arrives into a backup
 * file (`BackupWriter`: a temporary file beside FILE, renamed over it once whole and durable).
 * A member that is not the primary ends the stream naming the primary, which is followed; one
 * in a view change is asked again shortly, until `SaveOptions.deadlineMs`.
 */
import type { NodeId } from '../env/types.js';
import { silentLogger } from '../env/logger.js';
import { type StreamEnd, describeStreamEnd } from '../env/streams.js';
import { formatApp } from '../config/app-identity.js';
import { type SnapshotPiece, snapshotCodec } from '../node/snapshot-service.js';
import { formatViewstamp } from '../rsm/viewstamp.js';
import { GrpcClientTransport } from '../runtime/grpc-client-transport.js';
import { AdminError, queryStatus } from './admin.js';
import type { ClientTls } from '../runtime/tls-files.js';
import { type BackupHeader, BackupWriter } from './snapshot-file.js';

export interface SaveOptions {
  /** The cluster's name; default found from the node (as `synod status` finds it). */
  readonly cluster?: string;
  /**
   * How long the whole save may take to get a stream that completes. Default 60 s: long enough
   * to ride out a view change (a few seconds) and ship a state of a few GB on a LAN.
   */
  readonly deadlineMs?: number;
  /** Wait between attempts when the primary is not serving yet or unreachable. Default 200 ms. */
  readonly retryMs?: number;
  /** Where progress lines go (default nowhere). */
  readonly progress?: (line: string) => void;
  /** Mutual TLS (`loadClientTls`); absent: plaintext. */
  readonly tls?: ClientTls;
}

/** How often a progress line is written at most while a state streams (ms). */
export const progressEveryMs = 1000;
/** Default of `SaveOptions.deadlineMs` (`--timeout-ms`): a whole save, streaming included; room for a large state at a few MB/s. */
export const defaultSaveDeadlineMs = 60_000;
/** Default of `SaveOptions.retryMs`: the pause before asking again when the primary cannot serve a save now. */
export const defaultSaveRetryMs = 200;
/** Most `not-primary` answers followed in a row before the save gives up (they point in a circle, or views churn). */
export const maxPrimaryHops = 8;

/** Saves the serving primary's state to `file`; resolves with the file's header; rejects with an `AdminError`. */
export async function saveSnapshot(address: NodeId, file: string, opts: SaveOptions = {}): Promise<BackupHeader> {
  const deadline = Date.now() + (opts.deadlineMs ?? defaultSaveDeadlineMs);
  const retryMs = opts.retryMs ?? defaultSaveRetryMs;
  const { status, cluster } = await queryStatus(address, { cluster: opts.cluster, tls: opts.tls });
  if (status.app === null) throw new AdminError(`${address} runs no app: there is no replicated state to save`);
  const transport = new GrpcClientTransport({ cluster, clusterId: status.clusterId ?? undefined, logger: silentLogger, tls: opts.tls });
  let target: NodeId = status.primary ?? address;
  let hops = 0;
  const tried: string[] = [];
  try {
    for (;;) {
      const outcome = await streamOnce(transport, target, file, deadline, opts.progress);
      if (outcome.kind === 'saved') return outcome.header;
      tried.push(`${target}: ${describeStreamEnd(outcome.end)}`);
      const end = outcome.end;
      if (end.kind === 'not-primary' && end.primary !== null && end.primary !== target && hops < maxPrimaryHops) {
        hops++;
        target = end.primary;
        continue;
      }
      if (end.kind === 'wrong-cluster' || end.kind === 'invalid-request' || end.kind === 'internal' || Date.now() + retryMs > deadline) {
        throw new AdminError(`no snapshot saved (${file} untouched): ${tried.slice(-3).join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, retryMs));
      // Ask the member given again where the primary is now.
      target = (await queryStatus(address, { cluster }).catch(() => null))?.status.primary ?? address;
    }
  } finally {
    await transport.close();
  }
}

type Outcome = { readonly kind: 'saved'; readonly header: BackupHeader } | { readonly kind: 'ended'; readonly end: StreamEnd };

/**
 * One stream from `server`: the file is written and renamed only if the whole state arrived by
 * `deadline` (a stream that stalls past it is closed and ends `internal`, naming the timeout).
 */
function streamOnce(transport: GrpcClientTransport, server: NodeId, file: string, deadline: number, progress?: (line: string) => void): Promise<Outcome> {
  return new Promise((resolve) => {
    let writer: BackupWriter | null = null;
    let settled = false;
    let lastProgress = Date.now();
    const timer = setTimeout(() => failed(`no whole state from ${server} before the save's deadline (--timeout-ms)`), Math.max(0, deadline - Date.now()));
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (outcome.kind === 'ended') writer?.abandon();
      resolve(outcome);
    };
    const failed = (detail: string): void => {
      stream.close();
      settle({ kind: 'ended', end: { kind: 'internal', detail } });
    };
    const stream = transport.openStream(snapshotCodec, server, {}, {
      accepted: () => {},
      message: (piece: SnapshotPiece) => {
        try {
          if (piece.kind === 'start') {
            if (writer !== null) return failed(`${server} started the stream twice`);
            writer = new BackupWriter(file, {
              clusterId: piece.clusterId, app: piece.app, vs: piece.vs, node: piece.node,
              source: 'primary', savedAt: new Date().toISOString(), stateBytes: piece.stateBytes,
            });
            progress?.(`saving the state of ${formatApp(piece.app)} at viewstamp ${formatViewstamp(piece.vs)} from ${piece.node}: ${piece.stateBytes} bytes`);
            return;
          }
          if (writer === null) return failed(`${server} sent state before saying what it is`);
          writer.append(piece.data);
          const w: BackupWriter = writer;
          if (progress !== undefined && Date.now() - lastProgress >= progressEveryMs) {
            lastProgress = Date.now();
            progress(`  ${w.written} bytes received`);
          }
          if (!piece.last) return;
          stream.close();
          w.finish();
          settle({ kind: 'saved', header: w.header });
        } catch (err) {
          failed(`writing ${file}: ${(err as Error).message}`);
        }
      },
      ended: (end) => settle({ kind: 'ended', end }),
    });
  });
}
