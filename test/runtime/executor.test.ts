// The node's serial executor holds nothing between turns of the event loop, which is why it
// needs no bound of its own (see `Executor`): load is refused at the edges instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Executor } from '../../src/env/executor.js';

test('a task submitted by a running task waits its turn, and runs before the outer submit returns', () => {
  // No nesting (upcalls never re-enter a layer inside a handler), and no leftover work.
  const order: string[] = [];
  const e = new Executor((err) => assert.fail(String(err)));
  e.submit(() => {
    order.push('a begins');
    e.submit(() => order.push('b'));
    e.submit(() => e.submit(() => order.push('d')));
    order.push('a ends');
  });
  assert.deepEqual(order, ['a begins', 'a ends', 'b', 'd']);
  assert.ok(e.drained);
});

test('inputs arriving from the event loop never leave a task queued between turns, however many arrive', async () => {
  // The production pattern: every gRPC message, timer and disk callback submits from the event
  // loop; each task fans out into more tasks. After every input the queue is empty again.
  const e = new Executor((err) => assert.fail(String(err)));
  const inputs = 2000;
  let ran = 0;
  let queuedBetweenTurns = 0;
  await new Promise<void>((resolve) => {
    let arrived = 0;
    for (let i = 0; i < inputs; i++) {
      setImmediate(() => {
        e.submit(() => {
          ran++;
          for (let k = 0; k < 3; k++) e.submit(() => void ran++);
        });
        if (!e.drained) queuedBetweenTurns++;
        if (++arrived === inputs) resolve();
      });
    }
  });
  assert.equal(ran, inputs * 4);
  assert.equal(queuedBetweenTurns, 0);
});

test('a task that throws stops the executor: what was queued is dropped and later submits do nothing', () => {
  // A broken invariant stops the node (onFatal decides how); nothing of it runs on.
  const fatal: unknown[] = [];
  const e = new Executor((err) => fatal.push(err));
  let after = 0;
  e.submit(() => {
    e.submit(() => void after++);
    throw new Error('broken');
  });
  e.submit(() => void after++);
  assert.equal(after, 0);
  assert.ok(e.stopped && e.drained);
  assert.match(String(fatal[0]), /broken/);
});
