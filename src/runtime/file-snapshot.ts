/**
 * The production `SnapshotFile` (PROVISIONAL: no checksum yet; being replaced).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from '../env/logger.js';
import type { SnapshotFile } from '../env/snapshot-file.js';
import { writeFileDurable } from './durable-fs.js';

export interface FileSnapshotOptions {
  readonly logger: Logger;
}

export class FileSnapshot implements SnapshotFile {
  readonly #path: string;

  constructor(path: string, _options: FileSnapshotOptions) {
    this.#path = path;
  }

  read(): Uint8Array | null {
    return existsSync(this.#path) ? new Uint8Array(readFileSync(this.#path)) : null;
  }

  write(data: Uint8Array, done: (err?: Error) => void): void {
    let failure: Error | undefined;
    try {
      writeFileDurable(this.#path, data);
    } catch (err) {
      failure = err as Error;
    }
    setImmediate(() => done(failure));
  }
}
