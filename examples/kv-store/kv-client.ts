/**
 * A typed client for the key-value store: `connect()` underneath, one method per procedure.
 * What a user of the store imports instead of calling `invoke` with procedure names.
 */
import { type ConnectOptions, type Json, type SynodClient, connect } from 'synod';

export interface Versioned {
  readonly value: Json;
  readonly version: number;
}

export class KvClient {
  readonly #client: SynodClient;

  private constructor(client: SynodClient) {
    this.#client = client;
  }

  /** Connects to the store's cluster through any of its members. */
  static async connect(options: ConnectOptions): Promise<KvClient> {
    return new KvClient(await connect(options));
  }

  /** Sets `key`; resolves to its new version. */
  async put(key: string, value: Json): Promise<number> {
    return versionOf(await this.#client.invoke('put', { key, value }));
  }

  /** The value and version of `key`, or null if it does not exist. */
  async get(key: string): Promise<Versioned | null> {
    const r = await this.#client.invoke('get', { key });
    return r === null ? null : { value: field(r, 'value'), version: versionOf(r) };
  }

  /** Deletes `key`; resolves to whether it existed. */
  async delete(key: string): Promise<boolean> {
    return field(await this.#client.invoke('delete', { key }), 'deleted') === true;
  }

  /**
   * Sets `key` only if it is at `expectedVersion` (0: only if it does not exist); resolves to the
   * new version. Rejects with an `AppRejectedError` of code `version-mismatch` otherwise.
   */
  async compareAndSet(key: string, expectedVersion: number, value: Json): Promise<number> {
    return versionOf(await this.#client.invoke('cas', { key, expectedVersion, value }));
  }

  /** Keys starting with `prefix`, in order, with their versions. */
  async list(prefix = ''): Promise<Array<{ key: string; version: number }>> {
    const r = await this.#client.invoke('list', { prefix });
    return (Array.isArray(r) ? r : []).map((e) => ({ key: String(field(e, 'key')), version: versionOf(e) }));
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

function field(reply: Json, name: string): Json {
  return typeof reply === 'object' && reply !== null && !Array.isArray(reply) ? (reply[name] ?? null) : null;
}

function versionOf(reply: Json): number {
  const v = field(reply, 'version');
  if (typeof v !== 'number') throw new TypeError(`the store answered without a version: ${JSON.stringify(reply)}`);
  return v;
}
