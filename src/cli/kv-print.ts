/**
 * How `synod kv` prints: a human form (one line per key or event, a short summary) and, with
 * `--json`, the store's reply as JSON (one object; a watch prints one event per line, NDJSON).
 * Keys and values are printed as JSON strings when they hold anything a terminal would not show
 * plainly (control characters, leading or trailing spaces, or a ` = `), so a line always reads back.
 */
import type { DeleteResult, KeyValue, KvStatus, KvWatchEvent, LeaseInfo, LeaseTimeToLive, PutResult, RangeResult, TxnResult } from '../apps/kv/kv-client-types.js';

/** `text` as is when it prints plainly, else as a JSON string. */
export function shown(text: string): string {
  const plain = text.length > 0 && !/[\u0000-\u001f\u007f"]/.test(text) && text.trim() === text && !text.includes(' = ');
  return plain ? text : JSON.stringify(text);
}

const kvLine = (kv: KeyValue): string =>
  `${shown(kv.key)} = ${shown(kv.value)}  (version ${kv.version}, created ${kv.createRevision}, modified ${kv.modRevision}${kv.lease === 0 ? '' : `, lease ${kv.lease}`})`;

export function formatPut(r: PutResult): string {
  const prev = r.prevKv === undefined ? '' : r.prevKv === null ? 'previous: none\n' : `previous: ${kvLine(r.prevKv)}\n`;
  return `${prev}OK, revision ${r.revision}\n`;
}

export function formatGet(kv: KeyValue): string {
  return `${kvLine(kv)}\n`;
}

export function formatRange(r: RangeResult): string {
  const lines = r.kvs.map((kv) => `${kvLine(kv)}\n`).join('');
  return `${lines}${r.kvs.length} of ${r.count} key${r.count === 1 ? '' : 's'}${r.more ? ' (more: raise --limit)' : ''}, store at revision ${r.revision}\n`;
}

export function formatDelete(r: DeleteResult): string {
  const prev = (r.prevKvs ?? []).map((kv) => `deleted: ${kvLine(kv)}\n`).join('');
  return `${prev}${r.deleted} key${r.deleted === 1 ? '' : 's'} deleted, revision ${r.revision}\n`;
}

export function formatTxn(r: TxnResult): string {
  const responses = r.responses.map((resp, i) => `  ${i + 1}. ${JSON.stringify(resp)}\n`).join('');
  return `${r.succeeded ? 'succeeded (success branch ran)' : 'failed (failure branch ran)'}, revision ${r.revision}\n${responses}`;
}

export function formatEvent(e: KvWatchEvent): string {
  const prev = e.prevKv === undefined ? '' : `  (was ${shown(e.prevKv.value)})`;
  return e.type === 'put'
    ? `${e.revision} PUT ${shown(e.kv.key)} = ${shown(e.kv.value)}${e.kv.lease === 0 ? '' : `  [lease ${e.kv.lease}]`}${prev}\n`
    : `${e.revision} DELETE ${shown(e.kv.key)}${prev}\n`;
}

export function formatStatus(s: KvStatus): string {
  const rows: Array<[string, string | number]> = [
    ['revision', s.revision], ['compact revision', s.compactRevision], ['keys', s.keys], ['store bytes', s.storeBytes],
    ['history revisions', s.historyRevisions], ['history bytes', s.historyBytes], ['leases', s.leases],
  ];
  return rows.map(([k, v]) => `${k.padEnd(18)} ${v}\n`).join('');
}

export function formatLeaseTtl(t: LeaseTimeToLive): string {
  const keys = t.keys === undefined ? '' : `keys: ${t.keys.length === 0 ? '(none)' : t.keys.map(shown).join(' ')}\n`;
  return `lease ${t.id}: granted TTL ${t.grantedTtl} s, ${t.renewals} keepalives\n${keys}`;
}

export function formatLeases(list: readonly LeaseInfo[]): string {
  return `${list.map((l) => `lease ${l.id}  TTL ${l.ttl} s\n`).join('')}${list.length} lease${list.length === 1 ? '' : 's'}\n`;
}
