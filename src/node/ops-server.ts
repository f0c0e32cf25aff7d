import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Logger } from '../env/logger.js';
import type { NodeId } from '../env/types.js';
import type { PromMetrics } from '../runtime/prom-metrics.js';
import { type MemberReport, type PeerStatusAsker, roleOf } from './ops-status.js';
import type { ReadinessWatch } from './readiness-watch.js';
import type { NodeStatus } from './status.js';
import { statusPageHtml } from './status-page.js';

export interface OpsServerDeps {
  readonly self: NodeId;
  readonly metrics: PromMetrics;
  readonly readiness: ReadinessWatch;
  /** The node's status now; throws once the node is stopping. */
  readonly status: () => NodeStatus;
  readonly peers: PeerStatusAsker;
  readonly logger: Logger;
  /** `ObserveOptions.maxOpsConnections`. */
  readonly maxConnections: number;
  /** `ObserveOptions.opsRequestTimeoutMs`. */
  readonly requestTimeoutMs: number;
}

/** What /status.json answers: everything the status page draws (see status-page.ts). */
export interface ClusterStatusReport {
  /** The node that answered. */
  readonly self: NodeId;
  /** Wall-clock ms of the look. */
  readonly atMs: number;
  readonly ready: boolean;
  readonly reason: string;
  readonly vid: number;
  readonly primary: NodeId | null;
  /** The current view's members in view order (this node alone before it has a view), each asked now. */
  readonly members: ReadonlyArray<MemberReport & { readonly role: string | null }>;
  readonly views: ReadinessWatch['timeline']['views'];
}

/**
 * The node's operations endpoint on plain HTTP (`synod node --metrics-address HOST:PORT`):
 * `/metrics` (Prometheus text), `/healthz` (200 while the process runs), `/readyz` (200 when the
 * node is a normal replica of a serving view, else 503 with the reason on one line), `/status`
 * (the live status page) and `/status.json` (what the page draws: this node's status and every
 * member's, asked over the node service with `ObserveOptions.peerStatusTimeoutMs`). Read-only:
 * nothing here changes the node. GET and HEAD only; anything else is 405, unknown paths 404.
 */
export class OpsServer {
  readonly #server: Server;
  readonly #deps: OpsServerDeps;

  private constructor(server: Server, deps: OpsServerDeps) {
    this.#server = server;
    this.#deps = deps;
  }

  /** Listens on `address` (`host:port`; port 0 picks one, see `address`). Rejects when it cannot bind. */
  static async listen(address: string, deps: OpsServerDeps): Promise<OpsServer> {
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(address.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`metrics address ${address} must be host:port`);
    const server = createServer({ requestTimeout: deps.requestTimeoutMs, headersTimeout: deps.requestTimeoutMs });
    server.maxConnections = deps.maxConnections;
    const ops = new OpsServer(server, deps);
    server.on('request', (req, res) => void ops.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    deps.logger.info({ address: ops.address }, 'ops: metrics, health and status page listening');
    return ops;
  }

  /** The bound `host:port`. */
  get address(): string {
    const a = this.#server.address();
    if (a === null || typeof a === 'string') return String(a);
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET and HEAD\n');
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      switch (path) {
        case '/metrics':
          return send(res, 200, this.#deps.metrics.contentType, await this.#deps.metrics.scrape());
        case '/healthz':
          return send(res, 200, 'text/plain', 'ok\n');
        case '/readyz': {
          const r = this.#deps.readiness.readiness;
          return send(res, r.ready ? 200 : 503, 'text/plain', `${r.ready ? 'ready' : 'not ready'}: ${r.reason}\n`);
        }
        case '/':
        case '/status':
          return send(res, 200, 'text/html; charset=utf-8', statusPageHtml);
        case '/status.json':
          return send(res, 200, 'application/json', JSON.stringify(await this.#report()));
        default:
          return send(res, 404, 'text/plain', 'not found: /metrics /healthz /readyz /status /status.json\n');
      }
    } catch (err) {
      // The node is stopping, or a bug here: the endpoint answers 500, the node runs on.
      this.#deps.logger.debug({ err }, 'ops: request failed');
      if (!res.headersSent) send(res, 500, 'text/plain', `${(err as Error).message}\n`);
      else res.destroy();
    }
  }

  async #report(): Promise<ClusterStatusReport> {
    const { self, status, peers, readiness } = this.#deps;
    const own = status();
    const members = own.members.length > 0 ? own.members : [self];
    const reports = await Promise.all(members.map((m) =>
      m === self ? Promise.resolve<MemberReport>({ node: self, reachable: true, status: own }) : peers.ask(m)));
    const r = readiness.readiness;
    return {
      self,
      atMs: Date.now(),
      ready: r.ready,
      reason: r.reason,
      vid: own.vid,
      primary: own.primary,
      members: reports.map((m) => ({ ...m, role: m.reachable ? roleOf(m.status) : null })),
      views: readiness.timeline.views,
    };
  }
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
