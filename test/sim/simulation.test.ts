// The simulator's own mechanics: seeded randomness, event order, pauses, crashes and disks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../tools/sim/prng.js';
import { EventQueue } from '../../tools/sim/event-queue.js';
import { Simulation } from '../../tools/sim/simulation.js';
import type { WireCodec } from '../../src/env/transport.js';

const textCodec: WireCodec<string> = {
  service: 'test.Text',
  encode: (m) => ({ text: m }),
  decode: (w) => String(w['text']),
};

test('a seeded generator repeats its sequence, and another seed gives another', () => {
  const take = (seed: number) => Array.from({ length: 5 }, ((g) => () => g.next())(new Prng(seed)));
  assert.deepEqual(take(1), take(1));
  assert.notDeepEqual(take(1), take(2));
  const g = new Prng(3);
  for (let i = 0; i < 10_000; i++) {
    const x = g.next();
    assert.ok(x >= 0 && x < 1);
  }
});

test('events run in time order, and events at the same time in the order they were scheduled', () => {
  const q = new EventQueue();
  const ran: string[] = [];
  q.push(2, () => ran.push('c'));
  q.push(1, () => ran.push('a'));
  q.push(2, () => ran.push('d'));
  q.push(1, () => ran.push('b'));
  for (let e = q.pop(); e !== undefined; e = q.pop()) e.run();
  assert.deepEqual(ran, ['a', 'b', 'c', 'd']);
});

test('a paused node receives nothing until it resumes, then everything in order', () => {
  const sim = new Simulation({ seed: 1 });
  const got: string[] = [];
  const a = sim.addNode('a', (w) => ({ ch: w.transport.open(textCodec, () => {}) }));
  const b = sim.addNode('b', (w) => {
    w.transport.open(textCodec, (_from, m) => got.push(m));
    return {};
  });
  a.start();
  b.start();
  b.pause();
  for (const m of ['1', '2', '3']) a.process!.ch.send('b', m);
  sim.runUntil(100);
  assert.deepEqual(got, []);
  b.resume();
  sim.runUntil(200);
  assert.deepEqual(got.sort(), ['1', '2', '3']);
});

test('a crashed process gets none of its timers or messages, and its restart starts clean', () => {
  const sim = new Simulation({ seed: 2 });
  const fired: number[] = [];
  const n = sim.addNode('n', (w, node) => {
    const life = node.incarnation;
    w.clock.setTimer(10, () => fired.push(life));
    return {};
  });
  n.start();
  sim.runUntil(5);
  n.crash('test');
  n.start();
  sim.runUntil(100);
  assert.deepEqual(fired, [2]);
});

test('a crash keeps every synced record and loses only a suffix of the unsynced ones', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const sim = new Simulation({ seed });
    const n = sim.addNode('n', () => ({}));
    n.start();
    const log = n.world!.durableLog('x');
    log.load();
    const enc = (i: number) => new Uint8Array([i]);
    for (let i = 0; i < 5; i++) log.append(enc(i));
    let synced = false;
    log.sync(() => (synced = true));
    sim.runUntil(1000);
    assert.ok(synced);
    for (let i = 5; i < 10; i++) log.append(enc(i));
    n.crash('test');
    n.start();
    const kept = n.world!.durableLog('x').load().map((r) => r.data[0]);
    assert.ok(kept.length >= 5 && kept.length <= 10, `kept ${kept.length}`);
    assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => i));
  }
});

test('a cut between two nodes drops their messages both ways until healed', () => {
  const sim = new Simulation({ seed: 3 });
  const got: string[] = [];
  const mk = (id: string) => sim.addNode(id, (w) => ({ ch: w.transport.open(textCodec, (from, m) => got.push(`${from}>${id}:${m}`)) }));
  const a = mk('a');
  const b = mk('b');
  a.start();
  b.start();
  sim.network.split(['a'], ['b']);
  a.process!.ch.send('b', 'x');
  b.process!.ch.send('a', 'y');
  sim.runUntil(100);
  assert.deepEqual(got, []);
  sim.network.heal();
  a.process!.ch.send('b', 'z');
  sim.runUntil(200);
  assert.deepEqual(got, ['a>b:z']);
});
