/**
 * The clocks of the simulated machines (`SimClocks`, `DriftingClock`). Every incarnation of every
 * machine (node process or client machine) reads its own monotonic clock: a large random offset
 * of its own, so that no code can depend on two machines' clocks agreeing, and a rate that is
 * redrawn every few virtual seconds within [1 − ρₛ, 1 + ρₛ] of real (virtual) time. This is the
 * lease's model (leases-design §1.1): the drift *rate* is bounded, the *offset* is not. With
 * ρₛ = 0 the clocks run at the rate of real time, offsets apart.
 *
 * Everything is drawn from generators of their own, seeded from the run's seed, never from the
 * run's: a run draws the same delays, faults and jitter whatever its clocks do, and replays
 * exactly from its seed. A clock's rate segments are drawn lazily, when it is read, from that
 * clock's own generator, so when it is read does not change what it reads.
 */
import type { RsmCallObserver } from '../../src/client/rsm-client.js';
import type { Clock, TimerHandle } from '../../src/env/clock.js';
import { Prng } from './prng.js';

/** How often a clock's rate is redrawn, in virtual milliseconds: uniform in [min, max]. */
export const clockRateSegmentMs: readonly [number, number] = [1000, 5000];

/**
 * The largest offset a clock starts at, in milliseconds (about 11.5 days). Large, so that a
 * reading of one clock is meaningless on another; small enough that a double still resolves a
 * nanosecond at that magnitude.
 */
export const maxClockOffsetMs = 1e9;

/**
 * The smallest step a timer re-arms with when its clock has not yet advanced far enough (1 µs):
 * a remainder of rounding size would otherwise schedule at the very same virtual time again.
 */
export const minTimerStepMs = 1e-3;

/** What a clock needs of the simulation: virtual time and a way to run something later. */
export interface ClockHost {
  readonly now: number;
  /** Runs `fn` `delayMs` of virtual time from now (through the owner's guard). */
  schedule(delayMs: number, fn: () => void): void;
}

/** One machine incarnation's clock: `now = offset + Σ rate·Δvirtual`, rates redrawn per segment. */
export class DriftingClock implements Clock {
  readonly #host: ClockHost;
  readonly #rng: Prng;
  readonly #drift: number;
  /** Where the current rate segment began: virtual time and the reading then. */
  #segmentStartSim: number;
  #segmentStartLocal: number;
  #segmentEndSim: number;
  #rate: number;

  constructor(host: ClockHost, rng: Prng, drift: number) {
    if (!(drift >= 0 && drift < 1)) throw new RangeError(`a clock's drift rate must be in [0, 1), not ${drift}`);
    this.#host = host;
    this.#rng = rng;
    this.#drift = drift;
    this.#segmentStartSim = host.now;
    this.#segmentStartLocal = rng.uniform(0, maxClockOffsetMs);
    this.#rate = this.#drawRate();
    this.#segmentEndSim = host.now + rng.uniform(...clockRateSegmentMs);
  }

  /** The current rate: local milliseconds per virtual millisecond. */
  get rate(): number {
    this.#advance();
    return this.#rate;
  }

  now(): number {
    this.#advance();
    return this.#segmentStartLocal + this.#rate * (this.#host.now - this.#segmentStartSim);
  }

  /**
   * Keeps `Clock.setTimer`'s contract (no earlier than `delayMs` on this clock) across rate
   * changes: it waits `delay / rate` of virtual time, and if the rate fell meanwhile and this
   * clock has not advanced `delayMs` yet, it waits for the rest.
   */
  setTimer(delayMs: number, fire: () => void): TimerHandle {
    let cancelled = false;
    const start = this.now();
    const arm = (remainingMs: number): void => {
      this.#host.schedule(Math.max(0, remainingMs) / this.rate, () => {
        if (cancelled) return;
        const elapsed = this.now() - start;
        if (elapsed >= delayMs) fire();
        else arm(Math.max(delayMs - elapsed, minTimerStepMs));
      });
    };
    arm(delayMs);
    return { cancel: () => void (cancelled = true) };
  }

  /** Closes every rate segment that ended by now, drawing the next rates. */
  #advance(): void {
    const t = this.#host.now;
    while (t >= this.#segmentEndSim) {
      this.#segmentStartLocal += this.#rate * (this.#segmentEndSim - this.#segmentStartSim);
      this.#segmentStartSim = this.#segmentEndSim;
      this.#rate = this.#drawRate();
      this.#segmentEndSim += this.#rng.uniform(...clockRateSegmentMs);
    }
  }

  #drawRate(): number {
    return this.#drift === 0 ? 1 : this.#rng.uniform(1 - this.#drift, 1 + this.#drift);
  }
}

/**
 * The clocks of one simulation: every machine incarnation asks for a clock of its own, seeded
 * from the simulation's clock stream in the order they ask (which a seed fixes).
 */
export class SimClocks {
  /** ρₛ: the largest rate error of any machine's clock in this run (0: exact rates). */
  readonly drift: number;
  readonly #rng: Prng;

  constructor(seed: number, drift: number) {
    this.drift = drift;
    this.#rng = new Prng(seed ^ 0x5bd1e995);
  }

  /** A fresh clock for one machine incarnation. */
  clockFor(host: ClockHost): DriftingClock {
    return new DriftingClock(host, new Prng(Math.floor(this.#rng.next() * 2 ** 32)), this.drift);
  }
}

/**
 * A run's ρₛ. Drawn from a generator of its own: 0, ρ/2 or ρ, where ρ = `maxClockDriftPpm`/1e6
 * is the drift bound the nodes are configured with. With `scale` (`--clock-drift-x K`) it is
 * K·ρ in every run instead: beyond K = 1 the clocks break the bound the lease relies on, to
 * show what breaks.
 */
export function drawClockDrift(seed: number, maxClockDriftPpm: number, scale?: number): number {
  const rho = maxClockDriftPpm / 1e6;
  const drift = scale !== undefined ? scale * rho : new Prng(seed ^ 0x1b873593).pick([0, 0.5, 1]) * rho;
  return Math.min(drift, maxSimDrift);
}

/** The largest ρₛ a simulation accepts (a clock must keep running forwards). */
export const maxSimDrift = 0.9;

/**
 * `observer`, told virtual time instead of the client's clock: a history across clients needs
 * one time scale, and each simulated client machine's clock is its own (offset and rate).
 */
export function inVirtualTime(sim: { readonly now: number }, observer: RsmCallObserver): RsmCallObserver {
  return {
    invoked: (call) => observer.invoked(call, sim.now),
    completed: (call, result) => observer.completed(call, result, sim.now),
  };
}
