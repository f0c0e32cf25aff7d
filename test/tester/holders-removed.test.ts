// Proves, inside `npm test`, tester scenario 26 (tools/tester/scenarios/holders-removed.ts) on real
// `synod lock-server` processes: with state transfer cut, the members that hold the complete state
// are removed and the view refuses (BUSY); the removed holder, restarted on its disk, rejoins, is proven complete, is the
// view's source, and every lock and the fencing-token counter survive. About 4 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenarios } from '../../tools/tester/runner.js';

test('a restart after the complete holders were removed: the view refuses, the removed holder rejoins and every lock survives (26)', async () => {
  const lines: string[] = [];
  const r = await runScenarios({ numbers: [26], write: (l) => lines.push(l) });
  assert.equal(r.failed, 0, lines.join('\n'));
  assert.deepEqual(r.results.map((x) => x.number), [26]);
  assert.equal(lines.at(-1), '1 passed, 0 failed');
});
