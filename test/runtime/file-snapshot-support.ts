/**
 * What the FileSnapshot test files share: a fake process whose file-system calls can fail or
 * die at a chosen step of a write, and a way to wait for a snapshot's writes to call back.
 */
import { open, rename } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { SnapshotFile } from '../../src/env/snapshot-file.js';
import { nodeSnapshotFs, type SnapshotFs, type SnapshotTmpFile } from '../../src/runtime/file-snapshot.js';

/**
 * The steps of one write, in order (see `SnapshotFs`). `payload` is the write of the payload
 * into the `.tmp` (after its header); a fault there lets half of the payload reach the file first.
 */
export type WriteStep = 'open' | 'payload' | 'sync' | 'close' | 'rename' | 'syncDir';

export const writeSteps: readonly WriteStep[] = ['open', 'payload', 'sync', 'close', 'rename', 'syncDir'];

/**
 * What happens at a step: `fail`, the call reports an I/O error (EIO) and the process lives on;
 * `die`, the process dies there, and none of its calls touches the disk any more.
 */
export interface Fault {
  readonly step: WriteStep;
  readonly kind: 'fail' | 'die';
}

/** The error a `fail` fault reports, shaped like Node's. */
export function ioError(step: WriteStep): NodeJS.ErrnoException {
  return Object.assign(new Error(`EIO: i/o error, ${step} (injected)`), { code: 'EIO', errno: -5, syscall: step });
}

/**
 * One run of the node, as far as its snapshot file is concerned: its file-system calls (through
 * `fs`, the `FileSnapshotOptions.fs` seam) and its write callbacks. Once dead, every call
 * throws before touching the disk, as a dead process could not either.
 */
export class SnapshotProcess {
  #dead = false;
  #fault: Fault | undefined;
  #outstandingWrites = 0;
  #onSettled: Array<() => void> = [];
  readonly #handles: FileHandle[] = [];
  /** Every file-system call made, in order, by step name. */
  readonly steps: WriteStep[] = [];

  /** The next time a write reaches `fault.step`, that fault happens (once). */
  inject(fault: Fault): void {
    this.#fault = fault;
  }

  readonly fs: SnapshotFs = {
    openForWrite: async (path) => {
      await this.#step('open');
      const handle = await open(path, 'w', 0o644);
      this.#handles.push(handle);
      this.#checkAlive(); // died while opening: the handle is closed by die()
      return this.#wrap(handle);
    },
    rename: async (from, to) => {
      await this.#step('rename');
      await rename(from, to);
    },
    syncDir: async (dir) => {
      await this.#step('syncDir');
      await nodeSnapshotFs.syncDir(dir);
    },
  };

  /** Counts outstanding write callbacks, for `settled`. */
  track(file: SnapshotFile): SnapshotFile {
    return {
      read: () => file.read(),
      write: (data, done) => {
        this.#outstandingWrites++;
        file.write(data, (err) => {
          this.#outstandingWrites--;
          done(err);
          if (this.#outstandingWrites === 0) for (const wake of this.#onSettled.splice(0)) wake();
        });
      },
    };
  }

  /** Resolves once every write issued so far has called back (those issued by callbacks too). */
  settled(): Promise<void> {
    if (this.#outstandingWrites === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onSettled.push(resolve));
  }

  async die(): Promise<void> {
    this.#dead = true;
    // Closing a closed FileHandle is a no-op, so handles the snapshot closed itself are fine here.
    await Promise.all(this.#handles.map((handle) => handle.close()));
  }

  get dead(): boolean {
    return this.#dead;
  }

  #wrap(handle: FileHandle): SnapshotTmpFile {
    return {
      write: async (buffer, offset, length, position) => {
        this.#checkAlive();
        if (position === 0) return handle.write(buffer, offset, length, position); // the header
        if (this.#fault?.step !== 'payload') {
          this.steps.push('payload');
          return handle.write(buffer, offset, length, position);
        }
        // Half of the payload reaches the file, then the fault strikes.
        const half = Math.floor(length / 2);
        if (half > 0) await handle.write(buffer, offset, half, position);
        await this.#step('payload');
        throw new Error('unreachable: the payload fault throws');
      },
      sync: async () => {
        await this.#step('sync');
        await handle.sync();
      },
      close: async () => {
        try {
          // A dead process's handles are closed by die(); closing is allowed either way.
          if (!this.#dead) await this.#step('close');
        } finally {
          // Released even when the close "fails", as close(2) releases the descriptor on Linux.
          await handle.close();
        }
      },
    };
  }

  /** Records the step, and lets the injected fault strike there. */
  async #step(step: WriteStep): Promise<void> {
    this.#checkAlive();
    this.steps.push(step);
    const fault = this.#fault;
    if (fault?.step !== step) return;
    this.#fault = undefined;
    if (fault.kind === 'fail') throw ioError(step);
    await this.die();
    throw new Error(`the process died at ${step}`);
  }

  #checkAlive(): void {
    if (this.#dead) throw new Error('the process is dead');
  }
}
