/**
 * `connectLockService()`: the built-in lock service's client for a user's program, as `connect()`
 * is for any app: the cluster found from any of its addresses, typed methods, and the process kept
 * alive while a call is pending (so `await locks.acquire(…)` in a plain script completes).
 */
import { loadClientTls } from '../../runtime/tls-files.js';
import { randomUUID } from 'node:crypto';
import { type ConnectOptions, findCluster } from '../../client/connect.js';
import { KeepAlive } from '../../client/keep-alive.js';
import type { LockClientOptions } from '../../options.js';
import type { CallbackSubscriberOptions } from './callback-subscriber.js';
import { GrpcLockClient } from './grpc-lock-client.js';
import { type LocalGrant, LockLostEvent } from './lock-client.js';

export interface LockServiceOptions extends Pick<ConnectOptions, 'members' | 'cluster' | 'logger' | 'client' | 'timing' | 'tls'> {
  /**
   * The owner id the lock service knows this client by (its locks, its callback stream, its
   * session). Default: a random UUID. Two live clients must never share one: the service binds
   * an owner to the client that first used it and refuses it to others (`owner-taken`).
   */
  readonly owner?: string;
  /**
   * This client's own id, which the service binds its owner to (see `GrpcLockClientConfig.clientId`);
   * default a random UUID. Keep it secret.
   */
  readonly clientId?: string;
  readonly lockClient?: Partial<LockClientOptions>;
  readonly subscriber?: Partial<CallbackSubscriberOptions>;
}

/**
 * A caching lock client of the built-in lock service. `acquire(lock, user?)` resolves with the
 * grant's fencing token once this client holds the lock for `user` (default one user); the
 * client keeps the lock after `release` until another client wants it, so a user that takes it
 * again gets it without a server call. Give the token to every resource the lock protects, and
 * have the resource refuse tokens lower than the highest it saw.
 *
 * A grant lasts only while the client's session with the cluster is confirmed (Chubby's
 * sessions): if it is not confirmed in time (the cluster unreachable for about the session
 * timeout), the grant is lost, since the cluster may then give the lock to another client. The
 * holder learns it from the grant's `signal` (aborted with `LockLostError`), the `lost` event
 * (`LockLostEvent`), `check`, and its `release`, which rejects with `LockLostError`.
 */
export class LockService extends EventTarget {
  readonly cluster: string;
  readonly #client: GrpcLockClient;
  readonly #keepAlive = new KeepAlive();

  /** @internal use `connectLockService()`. */
  constructor(cluster: string, client: GrpcLockClient) {
    super();
    this.cluster = cluster;
    this.#client = client;
    client.lock.addEventListener('lost', (e) => void this.dispatchEvent(new LockLostEvent((e as LockLostEvent).error)));
  }

  get owner(): string {
    return this.#client.owner;
  }

  /** Resolves once `user` holds `lock`: the fencing token, and a signal that aborts if the grant is lost. */
  acquire(lock: string, user?: string): Promise<LocalGrant> {
    return this.#keepAlive.during(this.#client.lock.acquire(lock, user));
  }

  /** The token of `user`'s grant of `lock`; throws `LockLostError` if it was lost (see `LockClient.check`). */
  check(lock: string, user?: string): number {
    return this.#client.lock.check(lock, user);
  }

  release(lock: string, user?: string): Promise<void> {
    return this.#keepAlive.during(this.#client.lock.release(lock, user));
  }

  /**
   * Ends the client. With `giveBack` (default true), first gives every lock it holds or waits for
   * back to the service, so others need not wait for this owner's session to expire.
   */
  close(opts: { giveBack?: boolean } = {}): Promise<void> {
    return this.#keepAlive.during(this.#client.close({ giveBack: opts.giveBack ?? true }));
  }
}

/** Connects to a lock service (`synod lock-server` nodes) through any of its addresses. */
export async function connectLockService(options: LockServiceOptions): Promise<LockService> {
  const tls = options.tls === undefined ? undefined : loadClientTls(options.tls);
  const found = await findCluster(options, tls);
  const client = new GrpcLockClient({
    tls,
    cluster: found.cluster,
    members: found.members,
    owner: options.owner ?? randomUUID(),
    clientId: options.clientId,
    logger: options.logger,
    lockClient: options.lockClient,
    rsmClient: options.client,
    subscriber: options.subscriber,
    // Found by asking the cluster, as connect() does.
    clusterConfirmed: true,
  });
  return new LockService(found.cluster, client);
}
