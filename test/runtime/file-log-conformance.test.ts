import { mkdtemp, open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DurableLog } from '../../src/env/durable-log.js';
import { silentLogger } from '../../src/env/logger.js';
import { FileLog, type LogFile } from '../../src/runtime/file-log.js';
import { durableLogConformance, type DurableLogHarness } from '../conformance/durable-log.suite.js';

// FileLog on a real file against the behaviour every DurableLog must have.

durableLogConformance('FileLog', makeFileLogHarness);

/**
 * A real file in a fresh temp directory. A crash abandons the open `FileLog` and closes its file
 * handle, after which the abandoned log can no longer touch the file (as a dead process could
 * not). The suite crashes only with no sync in flight; a write already inside the kernel when
 * `crash` runs would otherwise still land after it.
 */
async function makeFileLogHarness(): Promise<DurableLogHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'synod-file-log-'));
  const path = join(dir, 'node.log');
  let current = new FakeProcess();
  const closing: Array<Promise<void>> = [];
  return {
    open: () => current.track(new FileLog(path, { logger: silentLogger, openForWrite: current.openForWrite })),
    crash: () => {
      closing.push(current.die());
      current = new FakeProcess();
    },
    settle: () => current.settled(),
    dispose: async () => {
      closing.push(current.die());
      await Promise.all(closing);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One run of the node, as far as its log is concerned: its sync callbacks and its file handles. */
class FakeProcess {
  #dead = false;
  #outstandingSyncs = 0;
  #onSettled: Array<() => void> = [];
  readonly #handles: FileHandle[] = [];

  readonly openForWrite = async (path: string): Promise<LogFile> => {
    this.#checkAlive();
    const handle = await open(path, 'r+');
    this.#handles.push(handle);
    this.#checkAlive(); // died while opening: the handle is closed by die()
    return {
      write: (buffer, offset, length, position) => {
        this.#checkAlive();
        return handle.write(buffer, offset, length, position);
      },
      datasync: () => {
        this.#checkAlive();
        return handle.datasync();
      },
      close: () => handle.close(),
    };
  };

  /** Counts outstanding sync callbacks, for `settled`. */
  track(log: DurableLog): DurableLog {
    return {
      load: () => log.load(),
      append: (data) => log.append(data),
      sync: (done) => {
        this.#outstandingSyncs++;
        log.sync((err) => {
          this.#outstandingSyncs--;
          done(err);
          if (this.#outstandingSyncs === 0) for (const wake of this.#onSettled.splice(0)) wake();
        });
      },
      close: () => log.close(),
    };
  }

  settled(): Promise<void> {
    if (this.#outstandingSyncs === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onSettled.push(resolve));
  }

  async die(): Promise<void> {
    this.#dead = true;
    // Closing a closed FileHandle is a no-op, so handles the log closed itself are fine here.
    await Promise.all(this.#handles.map((handle) => handle.close()));
  }

  #checkAlive(): void {
    if (this.#dead) throw new Error('the process crashed');
  }
}
