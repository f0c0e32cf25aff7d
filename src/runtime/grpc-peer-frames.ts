import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { invariant } from '../env/errors.js';
import type { NodeId } from '../env/types.js';
import type { Fields } from '../env/validate.js';
import { limits } from '../options.js';
import { statusName } from './grpc-status.js';
import { serviceDefinition } from './proto.js';

/**
 * The wire format of peer streams (proto/peer.proto): the service, its one method, and what a
 * refusal notice says. Internal to `src/runtime`.
 */

/** The service carrying every channel's messages between two nodes, two streams (lanes) per pair. */
export const peerService = 'synod.peer.Peer';

/** Its one method: `rpc Stream(stream Frame) returns (stream Notice)`. */
export type PeerStreamMethod = MethodDefinition<Fields, Fields, Fields, Fields>;

export function peerStreamMethod(): PeerStreamMethod {
  // proto-loader types every method as MethodDefinition<object, object>; messages are plain field maps.
  const method = serviceDefinition(peerService)['Stream'] as PeerStreamMethod | undefined;
  invariant(method !== undefined && method.requestStream && method.responseStream, `${peerService} has no bidirectional Stream method`);
  return method;
}

/** The notice a receiver sends back for a refused frame (`seq` 0: the frame itself was unreadable). */
export function noticeOf(seq: number, service: string, code: grpc.status, details: string): Fields {
  return { seq, service, code, details };
}

/**
 * A notice as the sender logs it (the fields of the log line a refused unary call gets, plus the
 * frame's number), and its code. A notice comes from the network: every field is bounded here.
 */
export function describeNotice(notice: Fields, to: NodeId): { code: grpc.status; fields: Record<string, unknown> } {
  const rawCode = notice['code'];
  const code: grpc.status = typeof rawCode === 'number' && Number.isInteger(rawCode) && rawCode >= 0 && rawCode <= 16 ? rawCode : grpc.status.UNKNOWN;
  const service = typeof notice['service'] === 'string' ? notice['service'].slice(0, limits.maxProcNameLength * 2) : '(none)';
  const details = typeof notice['details'] === 'string' ? notice['details'].slice(0, limits.maxErrorTextLength) : '';
  const frame = typeof notice['seq'] === 'number' ? notice['seq'] : 0;
  return { code, fields: { to, service, frame, code: statusName(code), details } };
}
