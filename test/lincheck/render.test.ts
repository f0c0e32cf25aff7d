// The picture of a violation: lanes, marks, escaping, the window around a large part, the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { checkLinearizable } from '../../tools/lincheck/check.js';
import { generateCounterHistory, tamperCounterHistory } from '../../tools/lincheck/generate.js';
import { type CounterInput, type CounterOutput, counterModel } from '../../tools/lincheck/models.js';
import { maxOpsDrawn, renderViolationHtml, writeViolationPicture } from '../../tools/lincheck/render.js';
import type { CheckResult, History } from '../../tools/lincheck/types.js';
import { HistoryBuilder } from './support.js';

type Violation = Extract<CheckResult, { verdict: 'violation' }>;

function violationOf(history: History<CounterInput, CounterOutput>): Violation {
  const r = checkLinearizable(history, counterModel);
  assert.equal(r.verdict, 'violation');
  return r as Violation;
}

/** Key `ok` is fine; on key `k` a get after add +1 sees 0; client names that need escaping. */
function smallViolation(): { history: History<CounterInput, CounterOutput>; failed: number } {
  const h = new HistoryBuilder<CounterInput, CounterOutput>();
  h.done('other', { proc: 'add', key: 'ok', by: 2 }, { value: 2 }, 0, 1);
  h.done('c<&>1', { proc: 'add', key: 'k', by: 1 }, { value: 1 }, 0, 2);
  h.unknown('c2', { proc: 'add', key: 'k', by: 5 }, 1);
  h.done('c2', { proc: 'get', key: 'k' }, { value: 1 }, 3, 4);
  const failed = h.done('c<&>1', { proc: 'get', key: 'k' }, { value: 0 }, 5, 6);
  return { history: h.history, failed };
}

const count = (html: string, re: RegExp): number => (html.match(re) ?? []).length;

test('the picture has an svg with one lane per client of the failed part, and marks the failed operation', () => {
  // Proves the layout: lanes, the red bar, the numbered prefix, the unknown outcome, the legend.
  const { history, failed } = smallViolation();
  const r = violationOf(history);
  const html = renderViolationHtml(history, counterModel, r, { title: 'a small one' });
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/, 'self-contained');
  assert.equal(count(html, /class="lane-label"/g), 2, 'c<&>1 and c2; not `other`, whose key is fine');
  assert.match(html, new RegExp(`<g class="op failed" data-op="${failed}"><title>FAILED: get k → 0 \\[op ${failed}, c&lt;&amp;&gt;1\\]</title>`));
  assert.equal(count(html, /class="op prefix/g), r.longestPrefix.length);
  assert.match(html, /#1 in the prefix: add k \+1 → 1/);
  assert.match(html, /class="op other unknown"[^>]*><title>add k \+5 → \?/);
  assert.match(html, /only part 2 of 2/);
  assert.match(html, /<h1>a small one<\/h1>/);
  assert.match(html, /Model <b>counters<\/b>; verdict <b>violation<\/b>/);
  assert.match(html, /unknown outcome/, 'the legend');
  assert.match(html, /time \(ms\)/, 'the axis');
});

test('every text in the picture is escaped: a client named c<&>1 never appears raw', () => {
  // Proves XML escaping of names, descriptions and the explanation.
  const { history } = smallViolation();
  const r = violationOf(history);
  assert.match(r.explanation, /c<&>1/);
  const html = renderViolationHtml(history, counterModel, r);
  assert.ok(!html.includes('c<&>1'));
  assert.match(html, /<p class="explanation">[^<]*c&lt;&amp;&gt;1/);
  assert.match(html, /class="lane-label"[^>]*><title>c&lt;&amp;&gt;1<\/title>c&lt;&amp;&gt;1<\/text>/);
});

test(`a part of more than ${maxOpsDrawn} operations is drawn as a window around the failed one, and says so`, () => {
  // Proves the window: a large part stays a readable picture.
  const history = generateCounterHistory({ seed: 7, operations: 1500, clients: 8, keys: 1, unknownRate: 0.01 });
  const { history: broken, opId } = tamperCounterHistory(history, 7);
  const r = violationOf(broken);
  const html = renderViolationHtml(broken, counterModel, r);
  assert.equal(count(html, /<g class="op /g), maxOpsDrawn);
  assert.match(html, new RegExp(`The part has 1500 operations; drawn are the ${maxOpsDrawn} around the failed one`));
  assert.match(html, new RegExp(`class="op failed" data-op="${r.failedOp}"`));
  assert.equal(r.failedOp, opId);
});

test('writeViolationPicture makes the directory, writes <name>.html and returns its absolute path', () => {
  // Proves the file: where it goes and what is in it.
  const root = mkdtempSync(join(tmpdir(), 'synod-lincheck-'));
  try {
    const { history } = smallViolation();
    const r = violationOf(history);
    const dir = join(root, 'deeper', 'still');
    const path = writeViolationPicture(dir, history, counterModel, r, { name: 'seed-9', title: 'seed 9' });
    assert.ok(isAbsolute(path));
    assert.equal(path, join(dir, 'seed-9.html'));
    assert.equal(readFileSync(path, 'utf8'), renderViolationHtml(history, counterModel, r, { title: 'seed 9' }));
    const plain = writeViolationPicture(dir, history, counterModel, r);
    assert.ok(plain.endsWith('violation.html') && existsSync(plain));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
