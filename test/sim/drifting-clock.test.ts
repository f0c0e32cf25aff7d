// The simulated machines' clocks: each starts at an offset of its own, drifts within the run's
// bound, keeps the Clock contract (a timer never fires early on its own clock) across rate
// changes, and replays exactly from the seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DriftingClock, SimClocks, clockRateSegmentMs, drawClockDrift, maxSimDrift } from '../../tools/sim/drifting-clock.js';
import { Prng } from '../../tools/sim/prng.js';
import { runRsmSimulation } from '../../tools/sim/rsm-run.js';
import { Simulation } from '../../tools/sim/simulation.js';

const seed = Number(process.env['SEED'] ?? 7);

/** A clock of `sim` (not tied to any node), its timers on the sim's queue. */
function clockOn(sim: Simulation): DriftingClock {
  return sim.clocks.clockFor({
    get now() {
      return sim.now;
    },
    schedule: (delayMs, fn) => sim.schedule(delayMs, fn),
  });
}

test('a timer never fires early on its own clock, across rate changes, and not much later than the drift allows', () => {
  console.log(`seed ${seed}`);
  // A drift far beyond any real bound makes the rate changes inside a timer's wait large.
  const drift = 0.5;
  const sim = new Simulation({ seed, clockDrift: drift });
  const rng = new Prng(seed);
  const clocks = [clockOn(sim), clockOn(sim), clockOn(sim)];
  let fired = 0;
  let rearmed = 0;
  for (let k = 0; k < 2000; k++) {
    const clock = rng.pick(clocks);
    const at = rng.uniform(0, 60_000);
    // Delays across many rate segments, and tiny ones.
    const delayMs = rng.chance(0.2) ? rng.uniform(0, 2) : rng.uniform(0, 3 * clockRateSegmentMs[1]);
    sim.schedule(at, () => {
      const start = clock.now();
      const startSim = sim.now;
      clock.setTimer(delayMs, () => {
        fired++;
        const elapsed = clock.now() - start;
        assert.ok(elapsed >= delayMs, `seed ${seed}: a timer of ${delayMs} ms fired after ${elapsed} ms on its clock`);
        // It waits no longer in virtual time than the slowest rate needs, plus the re-arm steps.
        const waited = sim.now - startSim;
        if (waited > delayMs / (1 + drift) + 1e-6) rearmed++;
        assert.ok(waited <= delayMs / (1 - drift) + 0.01, `seed ${seed}: a timer of ${delayMs} ms waited ${waited} ms of virtual time`);
      });
    });
  }
  sim.runUntil(60_000 + 3 * clockRateSegmentMs[1] / (1 - drift) + 1);
  assert.equal(fired, 2000);
  assert.ok(rearmed > 0, 'some timers saw their clock slow down while they waited');
});

test('a cancelled timer never fires, also one that was re-armed', () => {
  const sim = new Simulation({ seed, clockDrift: 0.5 });
  const clock = clockOn(sim);
  let fired = 0;
  for (let k = 0; k < 200; k++) {
    const timer = clock.setTimer(k * 37, () => fired++);
    sim.schedule(k * 20, () => timer.cancel());
  }
  sim.runUntil(100_000);
  assert.equal(fired, 1); // only the timer of 0 ms, which fires before its cancel at 0 runs
});

test('every clock starts at an offset of its own and runs within the drift bound, monotonic', () => {
  const drift = 0.01;
  const sim = new Simulation({ seed, clockDrift: drift });
  const clocks = Array.from({ length: 5 }, () => clockOn(sim));
  const offsets = clocks.map((c) => c.now());
  assert.equal(new Set(offsets).size, offsets.length, 'no two clocks agree');
  assert.ok(offsets.some((o) => o > 1e6), 'offsets are large');
  const last = [...offsets];
  const rates = new Set<number>();
  for (let t = 0; t <= 30_000; t += 250) {
    sim.runUntil(t);
    clocks.forEach((c, i) => {
      const now = c.now();
      assert.ok(now >= last[i]!, 'monotonic');
      last[i] = now;
      assert.ok(c.rate >= 1 - drift && c.rate <= 1 + drift, `rate ${c.rate} within ±${drift}`);
      rates.add(c.rate);
    });
  }
  // Over 30 s, each clock's rate was redrawn several times.
  assert.ok(rates.size > clocks.length * 3, `rates redrawn (${rates.size} distinct)`);
  clocks.forEach((c, i) => {
    const elapsed = c.now() - offsets[i]!;
    assert.ok(Math.abs(elapsed - 30_000) <= 30_000 * drift, `${elapsed} ms in 30 s of virtual time`);
  });
});

test('a run draws its drift from 0, ρ/2 and ρ, or K·ρ when told', () => {
  const drawn = new Set(Array.from({ length: 50 }, (_, s) => drawClockDrift(s, 10_000)));
  assert.deepEqual([...drawn].sort(), [0, 0.005, 0.01]);
  assert.equal(drawClockDrift(1, 10_000, 3), 0.03);
  assert.equal(drawClockDrift(1, 10_000, 1000), maxSimDrift);
  assert.equal(new SimClocks(1, 0.02).drift, 0.02);
});

test('a whole-stack run with drifting clocks replays exactly from its seed', () => {
  // Seeds whose drawn drift is not 0, and one past the bound.
  const runs = [{ seed: 4 }, { seed: 5 }, { seed: 8, clockDriftX: 5 }];
  let drifting = 0;
  for (const opts of runs) {
    const a = runRsmSimulation(opts);
    const b = runRsmSimulation(opts);
    console.log(`seed ${opts.seed}: driftPpm=${a.stats['driftPpm']} digest=${a.digest}`);
    assert.equal(a.digest, b.digest, `seed ${opts.seed} replays`);
    assert.ok(a.ok, a.failures.join('\n'));
    if ((a.stats['driftPpm'] ?? 0) > 0) drifting++;
  }
  assert.ok(drifting >= 2, 'the runs drifted');
});
