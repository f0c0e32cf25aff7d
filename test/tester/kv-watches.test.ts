// Proves, inside `npm test`, tester scenarios 28–30 (tools/tester/scenarios/kv-watches.ts) on real
// `synod node --app kv` processes: watchers by prefix, by key, with prevKv and started late get every
// revision once and in order across a primary's SIGKILL; across a whole-cluster SIGKILL and restart a
// watcher kept open, one resumed from its last revision and one new from the start get exactly what
// followed; a watcher that stops reading is evicted (feeds.stallTimeoutMs from an options file) with the
// typed cancel naming the last revision sent, and resumes from it with nothing missing. Each checked
// against a reference watcher, the final range and the writer's acknowledged revisions. About 25 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenarios } from '../../tools/tester/runner.js';

test('KV watchers lose and repeat nothing across a primary kill, a whole-cluster restart and an eviction (28–30)', async () => {
  const lines: string[] = [];
  const notes: string[] = [];
  const r = await runScenarios({ numbers: [28, 29, 30], write: (l) => lines.push(l), note: (l) => notes.push(l) });
  assert.equal(r.failed, 0, [...notes, ...lines].join('\n'));
  assert.deepEqual(r.results.map((x) => x.number), [28, 29, 30]);
  const exact = notes.filter((l) => /watchers exact: revision \d+/.test(l));
  assert.equal(exact.length, 3, notes.join('\n'));
  assert.ok(notes.some((l) => /the stalled watcher was evicted after \d+ events/.test(l)), notes.join('\n'));
  for (const l of exact) console.log(l); // the figures, for whoever reads the suite's output
  assert.equal(lines.at(-1), '3 passed, 0 failed');
});
