import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from '../env/logger.js';
import type { NodeStatus } from './status.js';
import { type Readiness, ViewTimeline, readinessOf } from './ops-status.js';

/** The gRPC health service names a node answers for: "" (the whole server, what probes ask by default) and "synod". */
export const healthServiceNames = ['', 'synod'] as const;

export interface ReadinessWatchDeps {
  /** The node's status now; throws once the node is stopping. */
  readonly status: () => NodeStatus;
  /** Where the health service is served (the node's own gRPC server). */
  readonly addHealthService: (health: HealthImplementation) => void;
  readonly pollMs: number;
  readonly timelineViews: number;
  readonly logger: Logger;
}

/**
 * Looks at the node's readiness every `pollMs` (a status read; the cores are untouched) and
 * keeps what depends on it current: the standard gRPC health service (`grpc.health.v1.Health`,
 * grpc-health-check) says SERVING for `healthServiceNames` exactly while `readinessOf` says
 * ready, NOT_SERVING otherwise, set on every change (so `Watch` streams see each flip); and the
 * view timeline of the status page. /readyz reads `readiness` (the last look, at most `pollMs`
 * old), so HTTP and gRPC never disagree for longer than one look.
 */
export class ReadinessWatch {
  readonly timeline: ViewTimeline;
  readonly #deps: ReadinessWatchDeps;
  readonly #health: HealthImplementation;
  readonly #timer: NodeJS.Timeout;
  #readiness: Readiness = { ready: false, reason: 'starting: not looked yet' };
  #stopped = false;

  constructor(deps: ReadinessWatchDeps) {
    this.#deps = deps;
    this.timeline = new ViewTimeline(deps.timelineViews);
    this.#health = new HealthImplementation(Object.fromEntries(healthServiceNames.map((n) => [n, 'NOT_SERVING' as ServingStatus])));
    deps.addHealthService(this.#health);
    this.#timer = setInterval(() => this.look(), deps.pollMs);
    this.#timer.unref();
    this.look();
  }

  /** The last look's verdict. */
  get readiness(): Readiness {
    return this.#readiness;
  }

  /** Looks now (also every `pollMs`). */
  look(): void {
    if (this.#stopped) return;
    let status: NodeStatus;
    try {
      status = this.#deps.status();
    } catch {
      return; // stopping: `stop` says NOT_SERVING
    }
    this.timeline.saw(status, Date.now());
    this.#set(readinessOf(status));
  }

  /** Says NOT_SERVING from now on and stops looking (the node is stopping). */
  stop(): void {
    this.#set({ ready: false, reason: 'stopping' });
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  #set(r: Readiness): void {
    const was = this.#readiness;
    this.#readiness = r;
    if (was.ready === r.ready && was.reason === r.reason) return;
    if (was.ready !== r.ready) {
      this.#deps.logger.info({ ready: r.ready, reason: r.reason }, r.ready ? 'health: ready (SERVING)' : 'health: not ready (NOT_SERVING)');
      for (const name of healthServiceNames) this.#health.setStatus(name, r.ready ? 'SERVING' : 'NOT_SERVING');
    }
  }
}
