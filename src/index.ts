/**
 * synod's front door: everything a user of the framework imports, from one place.
 *
 *   import { defineApp, startNode, connect } from 'synod';
 *
 * - Write an app: `defineApp`, `AppError`, `jsonState` and the `App` types.
 * - Run it: `startNode` (one node in this process), or the `synod` command (`synod node`).
 * - Call it: `connect` → `SynodClient.invoke`, with typed errors.
 * - The built-in lock service: its app and its caching client.
 * Testing your own app on the deterministic simulator is `synod/testkit`.
 */

// The app API.
export { AppError, argOf, checkApp, defineApp, jsonState } from './rsm/app.js';
export type { App, Callback, Handler, HandlerContext, Json, Query, QueryContext } from './rsm/app.js';
export type { Feed, FeedEvent, FeedRead } from './rsm/feed.js';

// Running nodes.
export { startNode } from './node/start-node.js';
export type { NodeHandle, StartNodeOptions } from './node/start-node.js';
export type { NodeStatus } from './node/status.js';
export { DataDirAppMismatchError, DataDirMismatchError, IdentityFileError } from './node/identity.js';
export { JoinRefusedError } from './config/app-identity.js';
export type { AppIdentity } from './config/app-identity.js';
export { CorruptLogError } from './env/durable-log.js';

// Calling them.
export { SynodClient, connect } from './client/connect.js';
export type { ConnectOptions } from './client/connect.js';
export { TlsFileError } from './runtime/tls-files.js';
export type { ClientTlsFiles, TlsFiles } from './runtime/tls-files.js';
export type { CallOptions } from './client/rsm-client.js';
export {
  AppRejectedError,
  BusyError,
  ClientClosedError,
  ClientExpiredError,
  DeadlineExceededError,
  DiscoveryError,
  InvalidArgumentError,
  NotPrimaryError,
  RsmClientError,
  UnavailableError,
  WrongClusterError,
} from './client/errors.js';
export { FeedClosedError, FeedCompactedError, FeedError, FeedRefusedError } from './client/feed-errors.js';
export { FeedReader, defaultMaxBufferedBytes, defaultMaxBufferedEvents } from './client/feed-reader.js';
export type { FeedBatch, FeedReaderOptions } from './client/feed-reader.js';
export { FeedSubscription } from './client/feed-subscription.js';
export type { FeedHandlers, FeedSubscribeSpec, FeedSubscriptionDeps } from './client/feed-subscription.js';

// Tunables (each documented with its default and why, in options.ts).
export {
  defaultCallbackOptions,
  defaultClientOptions,
  defaultConfigOptions,
  defaultConnectTimingOptions,
  defaultFeedOptions,
  defaultFeedSubscriberOptions,
  defaultLockClientOptions,
  defaultObserveOptions,
  defaultPaxosOptions,
  defaultRsmOptions,
  defaultTransportOptions,
  limits,
} from './options.js';
export type {
  CallbackOptions,
  ClientOptions,
  ConfigOptions,
  ConnectTimingOptions,
  FeedOptions,
  FeedSubscriberOptions,
  LockClientOptions,
  ObserveOptions,
  PaxosOptions,
  PeerMessages,
  RsmOptions,
  TransportOptions,
} from './options.js';

// Logging.
export type { Logger } from './env/logger.js';
export { createLogger } from './runtime/logging.js';
export type { LogLevel, LoggingOptions } from './runtime/logging.js';

// The built-in lock service.
export { lockApp } from './apps/lock/lock-app.js';
export type { LockState } from './apps/lock/lock-app.js';
export { LockService, connectLockService } from './apps/lock/lock-service.js';
export type { LockServiceOptions } from './apps/lock/lock-service.js';
export { GrpcLockClient } from './apps/lock/grpc-lock-client.js';
export type { GrpcLockClientConfig } from './apps/lock/grpc-lock-client.js';
export { LockLostEvent } from './apps/lock/lock-client.js';
export type { LocalGrant } from './apps/lock/lock-client.js';
export { LockClientClosedError, LockClientError, LockLostError, LockProtocolError, LockUsageError } from './apps/lock/lock-errors.js';

// The built-in KV store (docs/kv.md): its app and its typed client.
export { createKvApp, kvApp, kvLeaseSpec, kvLimits } from './apps/kv/kv-app.js';
export type { KvLimits } from './apps/kv/kv-app.js';
export { KvClient, connectKv } from './apps/kv/kv-client.js';
export type { KvConnectOptions, KvSnapshot, KvWatchOptions } from './apps/kv/kv-client.js';
export { KvLease } from './apps/kv/kv-lease-handle.js';
export type { KvLeaseLost } from './apps/kv/kv-lease-handle.js';
export { KvWatch } from './apps/kv/kv-watch-stream.js';
export { kvCompare, kvOp } from './apps/kv/kv-txn-builder.js';
export { KvCompactedError, KvError, KvLeaseNotFoundError, kvErrorCodes } from './apps/kv/kv-client-errors.js';
export type { KvErrorCode } from './apps/kv/kv-client-errors.js';
export type {
  CompactResult, Compare, CompareOp, CompareTarget, DeleteResult, KeySelector, KeyValue, KvStatus, KvWatchEvent, LeaseInfo, LeaseTimeToLive, PutOptions,
  PutResult, RangeOptions, RangeResult, TxnOp, TxnRequest, TxnResponse, TxnResult, WatchRequest,
} from './apps/kv/kv-client-types.js';
export type { KvClientOptions } from './options/kv-client.js';
export { defaultKvClientOptions } from './options/kv-client.js';
