import { Etcd3 } from 'etcd3';
import type { SynodClient } from '../../src/client/connect.js';
import type { Json } from '../../src/rsm/app.js';
import { type Call, type Contender, warmedCallers } from './throughput-measure.js';
import { callDeadlineMs } from './throughput-timing.js';

/**
 * The throughput rows of `npm run bench -- kv` on both systems: put, get (synod: a query; etcd: a
 * linearizable get, its default), range of a 100-key prefix, and compare-and-put (a txn that puts
 * a key only if its modRevision is the one this caller last wrote). Each row is one client with
 * `inFlight` calls at once; every call must succeed (a compare that fails is a wrong result, and
 * throws: each caller owns its key).
 */

export type KvRow = 'put' | 'get' | 'range-100' | 'txn';
export const kvRows: readonly KvRow[] = ['put', 'get', 'range-100', 'txn'];

/** Keys of the range row, and of the get row's one key, loaded before the rows run. */
export const rangeKeys = 100;
const rangePrefix = 'r/';
const getKey = 'q';
/** Values as small as etcd's benchmark's defaults make no difference between the systems' encodings. */
const value = 'v'.repeat(16);

/** Loads what the get and range rows read. */
export async function loadSynod(client: SynodClient): Promise<void> {
  await client.invoke('put', { key: getKey, value }, { deadlineMs: callDeadlineMs });
  await Promise.all(Array.from({ length: rangeKeys }, (_, i) =>
    client.invoke('put', { key: `${rangePrefix}${String(i).padStart(3, '0')}`, value }, { deadlineMs: callDeadlineMs })));
}

export async function loadEtcd(client: Etcd3): Promise<void> {
  await client.put(getKey).value(value);
  await Promise.all(Array.from({ length: rangeKeys }, (_, i) => client.put(`${rangePrefix}${String(i).padStart(3, '0')}`).value(value)));
}

const expectCount = (row: string, got: number): void => {
  if (got !== rangeKeys) throw new Error(`${row}: the range read ${got} keys, not ${rangeKeys}`);
};

/** synod's call `i` of `row` (each caller keeps its own state: the txn's last revision). */
function synodCall(client: SynodClient, row: KvRow, i: number, run: number): Call {
  const invoke = (proc: string, args: Json): Promise<Json> => client.invoke(proc, args, { deadlineMs: callDeadlineMs });
  switch (row) {
    case 'put':
      return async () => void (await invoke('put', { key: `p/${i}`, value }));
    case 'get':
      return async () => void (await invoke('get', { key: getKey }));
    case 'range-100':
      return async () => expectCount(row, ((await invoke('range', { key: rangePrefix, prefix: true })) as { count: number }).count);
    case 'txn': {
      const key = `t/${run}/${i}`;
      let modRevision = 0;
      return async () => {
        const r = (await invoke('txn', {
          compare: [{ key, target: 'modRevision', op: '=', value: modRevision }], success: [{ put: { key, value } }],
        })) as { succeeded: boolean; revision: number };
        if (!r.succeeded) throw new Error(`txn on ${key}: its modRevision is not ${modRevision}, the one this caller wrote last`);
        modRevision = r.revision;
      };
    }
  }
}

function etcdCall(client: Etcd3, row: KvRow, i: number, run: number): Call {
  const deadline = (): { deadline: number } => ({ deadline: Date.now() + callDeadlineMs });
  switch (row) {
    case 'put':
      return async () => void (await client.put(`p/${i}`).value(value).options(deadline()));
    case 'get':
      return async () => void (await client.get(getKey).options(deadline()).string());
    case 'range-100':
      return async () => expectCount(row, Object.keys(await client.getAll().prefix(rangePrefix).options(deadline()).strings()).length);
    case 'txn': {
      const key = `t/${run}/${i}`;
      let modRevision = 0;
      return async () => {
        const r = await client.if(key, 'Mod', '==', modRevision).then(client.put(key).value(value)).options(deadline()).commit();
        if (!r.succeeded) throw new Error(`etcd txn on ${key}: its mod revision is not ${modRevision}, the one this caller wrote last`);
        modRevision = Number(r.header.revision);
      };
    }
  }
}

/** Runs of the txn row get keys of their own (a caller's first compare is against a key that does not exist). */
let runs = 0;

export function synodContender(row: KvRow, inFlight: number, connect: () => Promise<SynodClient>, pids: () => readonly number[]): Contender {
  return {
    label: 'synod',
    open: async () => {
      const client = await connect();
      const run = ++runs;
      return warmedCallers(Array.from({ length: inFlight }, (_, i) => synodCall(client, row, i, run)), pids, () => client.close());
    },
  };
}

export function etcdContender(row: KvRow, inFlight: number, hosts: readonly string[], pids: () => readonly number[]): Contender {
  return {
    label: 'etcd',
    open: async () => {
      const client = new Etcd3({ hosts: [...hosts] });
      const run = ++runs;
      return warmedCallers(Array.from({ length: inFlight }, (_, i) => etcdCall(client, row, i, run)), pids, async () => client.close());
    },
  };
}
