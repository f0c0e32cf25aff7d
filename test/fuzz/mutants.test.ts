// The fuzzer bites: with one guard of src/ removed (in a copy of dist/, never in the tree), the
// same seed that passes on the real code fails, and its findings name what broke. The seed is
// printed with every failure; replay a mutant with `npm run fuzz -- --mutate <name> --seed <seed>`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { safeFamilies } from '../../tools/fuzz/case-model.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mutants, runMutantCollected } from '../../tools/fuzz/mutants.js';
import { runSimBatch } from '../../tools/fuzz/sim-target.js';

const seed = Number(process.env['FUZZ_SEED'] ?? process.env['SEED'] ?? 1);
const cases = 120;

test(`seed ${seed} passes on the real code (the control for the mutants below)`, () => {
  const r = runSimBatch({ seed, cases, families: safeFamilies });
  assert.ok(r.ok, `seed ${seed}:\n${r.findings.join('\n')}`);
});

test('every mutant named in tools/fuzz/mutants.ts still finds the code it breaks (none silently tests nothing)', () => {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  for (const m of mutants) {
    const text = readFileSync(join(dist, m.file), 'utf8');
    assert.equal(text.split(m.find).length - 1, 1, `mutant ${m.name}: its text must occur once in dist/${m.file}`);
  }
  assert.deepEqual(mutants.map((m) => m.name), ['no-json-depth-check', 'no-handler-guard', 'undecodable-internal']);
});

test(`without the JSON depth check at the edge (limits.maxJsonDepth), a seed from ${seed} on fails: deep arguments are no longer refused`, async () => {
  // Whether a run's cases send deep arguments to a service that checks them depends on the seed.
  let r = { code: 0, output: '' };
  for (let s = seed; s < seed + 6 && r.code === 0; s++) r = await runMutantCollected('no-json-depth-check', ['--seed', String(s), '--cases', String(cases)]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /must be refused \(args: limits\.maxJsonDepth\)|does not name limits\.maxJsonDepth/, r.output);
  assert.match(r.output, /mutant no-json-depth-check: caught/);
});

test(`without the guard around app handlers, a seed from ${seed} on fails: a node is stopped by an app's throw`, async () => {
  // Whether a run's requests reach a handler that refuses (a bad argument, a lock not held) before
  // its cases run out depends on the seed: the first of a few seeds that does must catch it.
  let r = { code: 0, output: '' };
  for (let s = seed; s < seed + 6 && r.code === 0; s++) r = await runMutantCollected('no-handler-guard', ['--seed', String(s), '--cases', String(cases)]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /stopped by an error: AppError/, r.output);
  assert.match(r.output, /went down/, r.output);
});
