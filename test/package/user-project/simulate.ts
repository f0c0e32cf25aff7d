// The user tests their own app the way synod tests itself: on the deterministic simulator, under
// faults, its client history checked against the app itself. `node dist/simulate.js`.
import { type Call, type SeededRandom, simulateApp } from 'synod/testkit';
import { counters } from './app.js';

function nextCall(rng: SeededRandom): Call {
  const name = rng.pick(['visits', 'likes']);
  if (rng.chance(0.3)) return { proc: 'get', args: { name } };
  return { proc: 'add', args: { name, by: rng.between(-1, 3) } }; // -1: refused with bad-amount
}

const seeds = [1, 2, 3];
let failed = 0;
for (const seed of seeds) {
  const result = simulateApp({ app: counters, seed, nextCall });
  console.log(`seed ${seed} ${result.ok ? 'pass' : 'FAIL'} operations=${result.operations} digest=${result.digest}`);
  for (const failure of result.failures) console.log(`  ${failure}`);
  if (!result.ok) failed++;
}
console.log(`testkit: ${seeds.length - failed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
