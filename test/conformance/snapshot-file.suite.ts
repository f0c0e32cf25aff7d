/**
 * The behaviour every `SnapshotFile` must have, as one suite that each implementation runs
 * against its own storage (a real file, the simulator's crash-losing disk). It checks only what
 * the interface in src/env/snapshot-file.ts promises; anything specific to one medium (file
 * format, damage, disk errors) belongs in that implementation's own tests.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SnapshotFile } from '../../src/env/snapshot-file.js';

export interface SnapshotFileHarness {
  /** Opens the snapshot file on this harness's storage, as a new process would. */
  open(): SnapshotFile;
  /** The process dies: the open handle is abandoned; a write not yet durable may be lost. */
  crash(): void;
  /**
   * Issues `write(data)` on `file` and has the process die before that write became durable
   * (simulator: a crash while it is in flight; files: the process dies half-way through
   * writing the temporary file). Returns once the dead process can no longer touch the storage.
   */
  crashDuringWrite(file: SnapshotFile, data: Uint8Array): Promise<void>;
  /** Waits until every write issued so far has called back (real I/O: await; simulator: run its event queue). */
  settle(): Promise<void>;
  dispose(): Promise<void>;
}

export function snapshotFileConformance(name: string, makeHarness: () => Promise<SnapshotFileHarness>): void {
  /** Runs `body` on a fresh harness and always disposes of it. */
  async function withHarness(body: (harness: SnapshotFileHarness) => Promise<void>): Promise<void> {
    const harness = await makeHarness();
    try {
      await body(harness);
    } finally {
      await harness.dispose();
    }
  }

  describe(`SnapshotFile conformance: ${name}`, () => {
    test('a snapshot never written reads as null, also after a crash', async () => {
      await withHarness(async (harness) => {
        assert.equal(harness.open().read(), null);
        harness.crash();
        assert.equal(harness.open().read(), null);
      });
    });

    test('a completed write is read back whole by the next process, byte-exact', async () => {
      const samples: Array<[string, Uint8Array]> = [
        ['an empty snapshot (not the same as none)', new Uint8Array(0)],
        ['zero bytes', new Uint8Array(100)],
        ['text', bytes('state')],
        ['a large state', patterned(1024 * 1024 + 3, 7)],
      ];
      for (const [label, data] of samples) {
        await withHarness(async (harness) => {
          await writeAndSettle(harness, harness.open(), data);
          harness.crash();
          assertContents(harness.open().read(), data, label);
        });
      }
    });

    test('of several writes the last one wins, and each later process reads it', async () => {
      await withHarness(async (harness) => {
        const file = harness.open();
        assert.equal(file.read(), null);
        const results: Array<Error | undefined> = [];
        // Issued back to back, none waiting for the one before.
        for (const data of [bytes('one'), patterned(5000, 2), bytes('three')]) file.write(data, (err) => results.push(err));
        await harness.settle();
        assert.deepEqual(results, [undefined, undefined, undefined]);
        harness.crash();

        const second = harness.open();
        assertContents(second.read(), bytes('three'), 'after the first process');
        await writeAndSettle(harness, second, bytes('four'));
        harness.crash();
        assertContents(harness.open().read(), bytes('four'), 'after the second process');
      });
    });

    test('done callbacks run in the order of the write calls, never inside write', async () => {
      await withHarness(async (harness) => {
        const file = harness.open();
        // Recorded, and checked once all ran: a failed assertion inside a callback would not
        // reach the test on every implementation.
        const calls: Array<{ label: string; insideWrite: boolean; err: Error | undefined }> = [];
        let insideWrite = false;
        const write = (data: Uint8Array, label: string, then?: () => void): void => {
          insideWrite = true;
          file.write(data, (err) => {
            calls.push({ label, insideWrite, err });
            then?.();
          });
          insideWrite = false;
        };
        write(bytes('a'), '1');
        // A write issued from inside a callback queues behind the writes already issued.
        write(patterned(70_000, 3), '2: issues 5', () => write(bytes('e'), '5: issued by 2'));
        write(new Uint8Array(0), '3');
        write(bytes('d'), '4');
        assert.deepEqual(calls, [], 'no callback ran before the writes were issued');
        await harness.settle();
        const labels = ['1', '2: issues 5', '3', '4', '5: issued by 2'];
        assert.deepEqual(calls, labels.map((label) => ({ label, insideWrite: false, err: undefined })));
        harness.crash();
        assertContents(harness.open().read(), bytes('e'), 'the last write issued');
      });
    });

    test('once done was called the caller may reuse its buffer: the stored contents stay', async () => {
      await withHarness(async (harness) => {
        const data = bytes('before reuse');
        await writeAndSettle(harness, harness.open(), data);
        data.fill(0x2a);
        harness.crash();
        assertContents(harness.open().read(), bytes('before reuse'), 'what was written');
      });
    });

    test('a write that was not durable before a crash leaves the previous contents, and the next process writes over it', async () => {
      await withHarness(async (harness) => {
        const first = harness.open();
        await writeAndSettle(harness, first, patterned(20_000, 4));
        await harness.crashDuringWrite(first, patterned(30_000, 5));

        const second = harness.open();
        assertContents(second.read(), patterned(20_000, 4), 'the previous contents');
        await writeAndSettle(harness, second, bytes('after the crash'));
        harness.crash();
        assertContents(harness.open().read(), bytes('after the crash'), 'the write after the crash');
      });
    });

    test('a first write that was not durable before a crash leaves no snapshot', async () => {
      await withHarness(async (harness) => {
        const file = harness.open();
        assert.equal(file.read(), null);
        await harness.crashDuringWrite(file, patterned(10_000, 6));
        assert.equal(harness.open().read(), null);
      });
    });
  });
}

/** Writes, waits for the callback, and checks it ran exactly once without an error. */
async function writeAndSettle(harness: SnapshotFileHarness, file: SnapshotFile, data: Uint8Array): Promise<void> {
  const results: Array<Error | undefined> = [];
  file.write(data, (err) => results.push(err));
  await harness.settle();
  assert.deepEqual(results, [undefined], 'the write called back once, without an error');
}

/** Compares contents only: implementations may hand back any Uint8Array (a Buffer, a view). */
function assertContents(actual: Uint8Array | null, expected: Uint8Array, label: string): void {
  assert.ok(actual !== null, `${label}: a snapshot is there`);
  assert.equal(actual.length, expected.length, `${label}: length`);
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected), `${label}: contents`);
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
