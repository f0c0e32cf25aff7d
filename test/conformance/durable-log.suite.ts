/**
 * The behaviour every `DurableLog` must have, as one suite that each implementation runs against
 * its own storage (a real file, the simulator's crash-losing disk). It checks only what the
 * interface in src/env/durable-log.ts promises; anything specific to one medium (file format,
 * torn tails, corruption) belongs in that implementation's own tests.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DurableLog, LoadedRecord } from '../../src/env/durable-log.js';

export interface DurableLogHarness {
  /** Opens the log on this harness's storage (again after a crash); `load()` is not yet called. */
  open(): DurableLog;
  /** The process dies: the open log is abandoned without close; unsynced records may be lost. */
  crash(): void;
  /** Waits until every sync issued so far has called back (real I/O: await; simulator: run its event queue). */
  settle(): Promise<void>;
  dispose(): Promise<void>;
}

export function durableLogConformance(name: string, makeHarness: () => Promise<DurableLogHarness>): void {
  /** Runs `body` on a fresh harness and always disposes of it. */
  async function withHarness(body: (harness: DurableLogHarness) => Promise<void>): Promise<void> {
    const harness = await makeHarness();
    try {
      await body(harness);
    } finally {
      await harness.dispose();
    }
  }

  describe(`DurableLog conformance: ${name}`, () => {
    test('a fresh log loads nothing, also after a crash and reopen', async () => {
      await withHarness(async (harness) => {
        assert.deepEqual(harness.open().load(), []);
        harness.crash();
        assert.deepEqual(harness.open().load(), []);
      });
    });

    test('records synced before a crash are loaded after reopen, in order and byte-exact', async () => {
      await withHarness(async (harness) => {
        const records = [
          bytes(''),
          bytes('first'),
          new Uint8Array(100), // all zero bytes: must not be mistaken for empty space
          patterned(1024 * 1024, 7), // about the size of a large state snapshot
          bytes(''),
          patterned(300, 11),
          bytes('last'),
        ];
        const log = harness.open();
        log.load();
        // Two syncs, so that the records travel in more than one batch.
        for (const record of records.slice(0, 3)) log.append(record);
        await syncAndSettle(harness, log);
        for (const record of records.slice(3)) log.append(record);
        await syncAndSettle(harness, log);
        harness.crash();
        assertRecords(harness.open().load(), records);
      });
    });

    test('a reopened log appends after the records it loaded', async () => {
      await withHarness(async (harness) => {
        const first = harness.open();
        first.load();
        first.append(bytes('one'));
        first.append(bytes('two'));
        await syncAndSettle(harness, first);
        harness.crash();

        const second = harness.open();
        assertRecords(second.load(), [bytes('one'), bytes('two')]);
        second.append(bytes('three'));
        await syncAndSettle(harness, second);
        harness.crash();

        assertRecords(harness.open().load(), [bytes('one'), bytes('two'), bytes('three')]);
      });
    });

    test('sync callbacks run in the order of the sync calls', async () => {
      await withHarness(async (harness) => {
        const log = harness.open();
        log.load();
        const calls: string[] = [];
        const errors: Array<Error | undefined> = [];
        const callback = (label: string) => (err?: Error) => {
          calls.push(label);
          errors.push(err);
        };
        log.append(bytes('a'));
        log.sync(callback('1: after a'));
        log.sync(callback('2: nothing new'));
        log.append(bytes('b'));
        log.append(bytes('c'));
        log.sync(callback('3: after b, c'));
        // A sync issued from inside a callback queues behind the syncs already issued, also when
        // it has nothing new to make durable.
        log.sync((err) => {
          callback('4: issues 6')(err);
          log.sync(callback('6: issued by 4, nothing new'));
        });
        log.sync((err) => {
          callback('5: issues 7')(err);
          log.append(bytes('d'));
          log.sync(callback('7: issued by 5, after d'));
        });
        await harness.settle();
        assert.deepEqual(calls, [
          '1: after a',
          '2: nothing new',
          '3: after b, c',
          '4: issues 6',
          '5: issues 7',
          '6: issued by 4, nothing new',
          '7: issued by 5, after d',
        ]);
        assert.deepEqual(errors, Array<undefined>(7).fill(undefined));
      });
    });

    test('a sync with nothing pending calls back', async () => {
      await withHarness(async (harness) => {
        const log = harness.open();
        log.load();
        await syncAndSettle(harness, log); // on a fresh log
        log.append(bytes('x'));
        await syncAndSettle(harness, log);
        await syncAndSettle(harness, log); // after everything was already made durable
      });
    });

    const prefixTest =
      'records appended but never synced may be lost in a crash, and whatever survives is a prefix of what was appended';
    test(prefixTest, async () => {
      await withHarness(async (harness) => {
        const appended = [bytes('synced 1'), bytes('synced 2'), bytes('unsynced 3'), bytes(''), patterned(5000, 3)];
        const log = harness.open();
        log.load();
        log.append(appended[0]!);
        log.append(appended[1]!);
        await syncAndSettle(harness, log);
        for (const record of appended.slice(2)) log.append(record);
        harness.crash();

        const reopened = harness.open();
        const survivors = reopened.load();
        assert.ok(survivors.length >= 2, `the synced records survive (got ${survivors.length} records)`);
        assertRecords(survivors, appended.slice(0, survivors.length));

        // Whatever was lost, the log goes on after the survivors.
        reopened.append(bytes('after the crash'));
        await syncAndSettle(harness, reopened);
        harness.crash();
        assertRecords(harness.open().load(), [...appended.slice(0, survivors.length), bytes('after the crash')]);
      });
    });

    test('after close and reopen every appended record is there', async () => {
      await withHarness(async (harness) => {
        const records = [bytes('synced'), bytes('never synced'), bytes(''), patterned(70_000, 5)];
        const log = harness.open();
        log.load();
        log.append(records[0]!);
        await syncAndSettle(harness, log);
        for (const record of records.slice(1)) log.append(record);
        await log.close();
        await log.close(); // closing again is harmless
        assertRecords(harness.open().load(), records);
      });
    });

    test('append before load is refused', async () => {
      await withHarness(async (harness) => {
        const log = harness.open();
        assert.throws(() => log.append(bytes('too early')));
        assert.deepEqual(log.load(), [], 'the refused record was not stored');
      });
    });
  });
}

/** Syncs, waits for the callback, and checks it ran exactly once without an error. */
async function syncAndSettle(harness: DurableLogHarness, log: DurableLog): Promise<void> {
  const results: Array<Error | undefined> = [];
  log.sync((err) => results.push(err));
  await harness.settle();
  assert.deepEqual(results, [undefined], 'the sync called back once, without an error');
}

/** Compares contents only: implementations may hand back any Uint8Array (a Buffer, a view). */
function assertRecords(actual: readonly LoadedRecord[], expected: readonly Uint8Array[]): void {
  assert.equal(actual.length, expected.length, 'number of records');
  expected.forEach((want, i) => {
    const got = actual[i]!.data;
    assert.equal(got.length, want.length, `length of record ${i}`);
    assert.ok(asBuffer(got).equals(want), `contents of record ${i}`);
  });
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Deterministic, varied bytes; a different seed gives different bytes. */
function patterned(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0; // a linear congruential step
    out[i] = state >>> 24;
  }
  return out;
}
