import type { Logger } from '../../src/env/logger.js';
import { silentLogger } from '../../src/env/logger.js';
import { describeCallFailure } from '../../src/env/transport.js';
import type { NodeId } from '../../src/env/types.js';
import { type NodeStatus, nodeServiceCodec } from '../../src/node/status.js';
import type { TransportOptions } from '../../src/options.js';
import { GrpcClientTransport } from '../../src/runtime/grpc-client-transport.js';
import type { ClientTls } from '../../src/runtime/tls-files.js';

/** Asks a node for its status over its node service; rejects with the transport's reason if it cannot. */
export class StatusReader {
  readonly #transport: GrpcClientTransport;
  readonly #pending = new Map<NodeId, Array<{ resolve: (s: NodeStatus) => void; reject: (e: Error) => void }>>();
  readonly #channel;

  /**
   * @param options of its transport; `callDeadlineMs` bounds how long one status call waits (default 3 s)
   * @param tls mutual TLS (absent: plaintext)
   */
  constructor(cluster: string, logger: Logger = silentLogger, options?: Partial<TransportOptions>, tls?: ClientTls) {
    this.#transport = new GrpcClientTransport({ cluster, logger, options, tls });
    this.#channel = this.#transport.connect(
      nodeServiceCodec,
      (server, status) => this.#settle(server, (w) => w.resolve(status)),
      (server, failure) => this.#settle(server, (w) => w.reject(new Error(`${server}: ${describeCallFailure(failure)}`))),
    );
  }

  status(node: NodeId): Promise<NodeStatus> {
    return new Promise((resolve, reject) => {
      const waiting = this.#pending.get(node) ?? [];
      waiting.push({ resolve, reject });
      this.#pending.set(node, waiting);
      this.#channel.send(node, { kind: 'status' });
    });
  }

  close(): Promise<void> {
    return this.#transport.close();
  }

  #settle(server: NodeId, how: (w: { resolve: (s: NodeStatus) => void; reject: (e: Error) => void }) => void): void {
    const waiting = this.#pending.get(server);
    const first = waiting?.shift();
    if (first !== undefined) how(first);
  }
}
