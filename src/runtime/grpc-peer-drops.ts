import type { Logger } from '../env/logger.js';

/** At most one drop line per peer, lane and kind of drop in this long (each says how many it covers). */
const dropLogIntervalMs = 1000;

/** Why a message was dropped: its lane's queue was `full`, or no stream could carry it (`down`). */
export type Drop = 'full' | 'down';

/**
 * The messages one lane of a peer link dropped (`PeerLane`): counted, and logged at most once a
 * second per kind with how many the line covers (warn when the peer reads too slowly, debug when
 * it is down). Internal to `src/runtime`.
 */
export class LaneDrops {
  readonly #log: Logger;
  /** The fields every line carries: the peer, the lane and its bound. */
  readonly #fields: { readonly to: string; readonly lane: string; readonly queueBytes: number };
  readonly #count: Record<Drop, number> = { full: 0, down: 0 };
  #bytes = 0;
  /** Drops not yet reported in a log line, per kind, and when the last line went out. */
  readonly #unlogged: Record<Drop, { frames: number; bytes: number; at: number }> = {
    full: { frames: 0, bytes: 0, at: -Infinity },
    down: { frames: 0, bytes: 0, at: -Infinity },
  };

  constructor(log: Logger, fields: { readonly to: string; readonly lane: string; readonly queueBytes: number }) {
    this.#log = log;
    this.#fields = fields;
  }

  count(kind: Drop, bytes: number): void {
    this.#count[kind]++;
    this.#bytes += bytes;
    const unlogged = this.#unlogged[kind];
    unlogged.frames++;
    unlogged.bytes += bytes;
    const now = performance.now();
    if (now - unlogged.at < dropLogIntervalMs) return;
    const fields = { ...this.#fields, dropped: unlogged.frames, droppedBytes: unlogged.bytes };
    if (kind === 'full') this.#log.warn(fields, `messages to peer dropped: its ${this.#fields.lane} stream is full (it reads slower than this node sends)`);
    else this.#log.debug(fields, 'messages to peer dropped: no stream to it now (it is down or restarting)');
    unlogged.frames = 0;
    unlogged.bytes = 0;
    unlogged.at = now;
  }

  stats(): { droppedFull: number; droppedDown: number; droppedBytes: number } {
    return { droppedFull: this.#count.full, droppedDown: this.#count.down, droppedBytes: this.#bytes };
  }
}
