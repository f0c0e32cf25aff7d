// The "never two actives" lease checker on synthetic event sequences: it catches a query answered
// past the lease (A), a new primary serving while the old one still believes in its lease (B),
// and a lease extended after another primary served; it passes clean handovers, a same-primary
// view change, and beliefs that died with a crashed process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeId } from '../../src/env/types.js';
import { newRequest } from '../../src/rsm/messages.js';
import { LeaseChecker } from '../../tools/sim/checkers/lease-checker.js';

/** A host whose real time and every node's clock (offset, rate, incarnation, up/down) the test sets. */
class World {
  now = 0;
  readonly failures: string[] = [];
  readonly #nodes = new Map<NodeId, { offset: number; rate: number; incarnation: number; up: boolean }>();

  constructor(nodes: Record<NodeId, { offset: number; rate?: number }>) {
    for (const [id, c] of Object.entries(nodes)) this.#nodes.set(id, { offset: c.offset, rate: c.rate ?? 1, incarnation: 1, up: true });
  }

  fail(message: string): void {
    this.failures.push(message);
  }

  reading(node: NodeId): { incarnation: number; nowMs: number } | null {
    const n = this.#nodes.get(node)!;
    return n.up ? { incarnation: n.incarnation, nowMs: n.offset + n.rate * this.now } : null;
  }

  /** `node`'s clock reading at real time `atMs` (its clock is offset + rate × real). */
  clockAt(node: NodeId, atMs: number): number {
    const n = this.#nodes.get(node)!;
    return n.offset + n.rate * atMs;
  }

  restart(node: NodeId): void {
    this.#nodes.get(node)!.incarnation++;
  }

  crash(node: NodeId): void {
    this.#nodes.get(node)!.up = false;
  }
}

function setUp(nodes: Record<NodeId, { offset: number; rate?: number }>) {
  const world = new World(nodes);
  const checker = new LeaseChecker(world, world);
  return { world, checker };
}

const query = newRequest('alice', 1, 'length', null);

test('a query answered under the lease passes; one answered at or past it is a violation (A)', () => {
  const { world, checker } = setUp({ n1: { offset: 5e8 } });
  checker.serving('n1', 3);
  world.now = 100;
  checker.leaseChanged('n1', 3, world.clockAt('n1', 600)); // until real 600 on n1's clock
  world.now = 599;
  checker.queryAnswered('n1', 3, query);
  assert.deepEqual(world.failures, []);
  world.now = 600;
  checker.queryAnswered('n1', 3, query);
  assert.equal(world.failures.length, 1);
  assert.match(world.failures[0]!, /^lease: n1 \(#1\) answered the query length of alice on its own as primary of view 3 .* its lease having run out/);
});

test('a query answered in a view where the primary never held a lease is a violation (A)', () => {
  const { world, checker } = setUp({ n1: { offset: 7 } });
  checker.serving('n1', 2);
  checker.leaseChanged('n1', 1, world.clockAt('n1', 10_000)); // a belief for another view does not count
  world.now = 10;
  checker.queryAnswered('n1', 2, query);
  assert.equal(world.failures.length, 1);
  assert.match(world.failures[0]!, /never having held a lease in that view/);
});

test('a new primary that serves while the old one still believes in its lease is a violation (B)', () => {
  // n1's clock runs slow and far from n2's: only readings of n1's own clock decide.
  const { world, checker } = setUp({ n1: { offset: 9e8, rate: 0.9 }, n2: { offset: 3 } });
  checker.serving('n1', 3);
  world.now = 1000;
  checker.leaseChanged('n1', 3, world.clockAt('n1', 1000) + 500); // 500 ms on n1's clock: real 1555
  world.now = 1550;
  checker.serving('n2', 4);
  assert.equal(world.failures.length, 1);
  assert.match(world.failures[0]!, /^lease: n2 started serving view 4 .* while n1 \(#1\) still believed it held its lease for view 3 .* two primaries may act at once/);
});

test('a new primary that serves once the old lease ran out on the old primary\'s clock passes (B)', () => {
  const { world, checker } = setUp({ n1: { offset: 9e8, rate: 0.9 }, n2: { offset: 3, rate: 1.1 } });
  checker.serving('n1', 3);
  world.now = 1000;
  checker.leaseChanged('n1', 3, world.clockAt('n1', 1000) + 500);
  world.now = 1556;
  checker.serving('n2', 4);
  // The deposed primary learns it lost the lease and says so: no belief, nothing to check.
  checker.leaseChanged('n1', 3, Number.NEGATIVE_INFINITY);
  assert.deepEqual(world.failures, []);
});

test('a same-primary view change is no handover: the lease carried into the next view is not a violation', () => {
  const { world, checker } = setUp({ n1: { offset: 1e6 }, n2: { offset: 2e6 } });
  checker.serving('n1', 3);
  world.now = 100;
  checker.leaseChanged('n1', 3, world.clockAt('n1', 600));
  world.now = 200; // n2 was removed, n1 goes on as primary of view 4 while its lease of view 3 runs
  checker.serving('n1', 4);
  checker.leaseChanged('n1', 4, world.clockAt('n1', 700));
  world.now = 300;
  checker.queryAnswered('n1', 4, query);
  assert.deepEqual(world.failures, []);
});

test('a lease extended after another primary served is a violation (B)', () => {
  const { world, checker } = setUp({ n1: { offset: 0 }, n2: { offset: 4e8 } });
  checker.serving('n1', 3);
  world.now = 100;
  checker.leaseChanged('n1', 3, world.clockAt('n1', 400));
  world.now = 500;
  checker.serving('n2', 4); // clean: n1's lease ran out at 400
  assert.deepEqual(world.failures, []);
  world.now = 520;
  checker.leaseChanged('n1', 3, world.clockAt('n1', 1000)); // a stale grant for view 3 let it believe again
  assert.equal(world.failures.length, 1);
  assert.match(world.failures[0]!, /^lease: n1 \(#1\) extended its lease for view 3 .* after n2 started serving view 4/);
});

test('beliefs die with the process: a crashed or restarted primary does not block the next view', () => {
  const { world, checker } = setUp({ n1: { offset: 0 }, n2: { offset: 4e8 }, n3: { offset: 6e8 } });
  checker.serving('n1', 3);
  checker.leaseChanged('n1', 3, world.clockAt('n1', 10_000));
  world.now = 100;
  world.restart('n1'); // a new incarnation on the same machine: its clock reading says nothing of the old belief
  checker.serving('n2', 4);
  checker.leaseChanged('n2', 4, world.clockAt('n2', 10_000));
  world.now = 200;
  world.crash('n2');
  checker.serving('n3', 5);
  assert.deepEqual(world.failures, []);
});
