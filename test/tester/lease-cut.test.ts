// Proves, inside `npm test`, tester scenario 27 (tools/tester/scenarios/lease.ts) on real `synod
// lock-server` processes: the primary cut off from its peers only (the tester's clients still reach
// it) logs that its lease lapsed and names no primary to a `members` call, the view [n2,n3] serves
// (a request sent to n2 alone is executed), the cut-off n1 executes nothing, lock tester tests 2 and
// 5 find no two holders and no fencing token going back, the background load carries on, and after
// the heal n1 is a member of view 5. About 10 s (test 2 alone
// holds its lock six times for a second).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenarios } from '../../tools/tester/runner.js';

test('a primary cut off from its peers only falls silent once its lease lapses, and the view that replaces it serves (27)', async () => {
  const lines: string[] = [];
  const notes: string[] = [];
  const r = await runScenarios({ numbers: [27], write: (l) => lines.push(l), note: (l) => notes.push(l) });
  assert.equal(r.failed, 0, [...notes, ...lines].join('\n'));
  assert.deepEqual(r.results.map((x) => x.number), [27]);
  const figures = notes.find((l) => /lease figures: cut → n1's lease ran out/.test(l));
  assert.ok(figures !== undefined, notes.join('\n'));
  console.log(figures); // the figures, for whoever reads the suite's output
  assert.equal(lines.at(-1), '1 passed, 0 failed');
});
