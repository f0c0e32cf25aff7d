import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { clusterIdMetadataKey, clusterNamedBy, wrongClusterCode } from './grpc-status.js';
import { serviceDefinition } from './proto.js';

type Fields = Record<string, unknown>;

/**
 * A unary RPC failed; `code` is the gRPC status code, `details` the server's text. `cluster`: the
 * server refused the call as another cluster's, and this is its own cluster's name (from the
 * refusal's trailing metadata; `grpc-status.ts`). `named`: the cluster name and id the refusal's
 * metadata named, whatever its code (a refusal for another cluster or id, or an isolated node's
 * UNAVAILABLE, which tells who it is although it serves nobody).
 */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    readonly method: string,
    readonly address: string,
    readonly cluster: string | undefined = undefined,
    readonly named: { readonly cluster: string; readonly clusterId: string | null } | undefined = undefined,
  ) {
    super(`${method} to ${address} failed: ${grpc.status[code] ?? code}: ${details}`);
  }
}

/** The cluster name and id a refusal's trailing metadata names, if it names a cluster. */
function namedBy(metadata: grpc.Metadata | undefined): { cluster: string; clusterId: string | null } | undefined {
  const cluster = clusterNamedBy(metadata);
  if (cluster === undefined) return undefined;
  const id = metadata?.get(clusterIdMetadataKey)[0];
  return { cluster, clusterId: typeof id === 'string' && id.length > 0 ? id : null };
}

/**
 * A small promise-based client for one gRPC service at one address (the control service, and
 * later the client-facing services). One connection per instance; `close` releases it.
 */
export class UnaryClient {
  readonly address: string;
  readonly #service: string;
  readonly #client: grpc.Client;

  /** `credentials`: mutual TLS (`channelCredentials`, runtime/tls-credentials.ts); default plaintext. */
  constructor(service: string, address: string, options: grpc.ChannelOptions = {}, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    this.address = address;
    this.#service = service;
    this.#client = new grpc.Client(address, credentials, options);
  }

  call<Reply = Fields>(method: string, request: Fields, deadlineMs: number): Promise<Reply> {
    const def = serviceDefinition(this.#service)[method] as MethodDefinition<Fields, Fields> | undefined;
    if (def === undefined) return Promise.reject(new Error(`no method ${method} in ${this.#service}`));
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err: grpc.ServiceError | null, reply?: Fields) => {
          if (err === null) resolve((reply ?? {}) as Reply);
          else {
            reject(new RpcError(err.code, err.details, method, this.address,
              err.code === wrongClusterCode ? clusterNamedBy(err.metadata) : undefined, namedBy(err.metadata)));
          }
        },
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}
