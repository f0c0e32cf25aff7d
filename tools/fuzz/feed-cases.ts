/**
 * Feed subscriptions (`synod.rsm.Feeds/Subscribe`, proto/feeds.proto) as anyone may send them:
 * feed names empty, huge, of the prototype (`constructor`, `__proto__`) or unknown; filters that
 * are not JSON, nested or sized past the limits, or JSON of the wrong shape for the feed (the KV
 * `watch` filter's fields with wrong types, unknown fields, keys past `maxKeyBytes`); positions
 * (`after`) negative, fractional, huge, past the safe integers, or past the feed's head.
 *
 * What the rules demand: input the feed codec refuses (`feedsCodec.decodeRequest`, the node's
 * own check) is refused with a type, naming `limits.maxJsonDepth` or `limits.maxRequestBytes` when
 * the filter breaks it (issue 12: limits named); a feed the app
 * does not have, or a filter the feed refuses, is never accepted (the serving primary answers
 * with a cancel and ends the stream `invalid-request`; another node sends the client on first);
 * anything else may be taken. Never a crash, never an `internal` end.
 */
import { kvLimits } from '../../src/apps/kv/kv-limits.js';
import { limits } from '../../src/options.js';
import type { Json } from '../../src/rsm/app.js';
import { feedsCodec } from '../../src/rsm/feeds-wire.js';
import type { Prng } from '../sim/prng.js';
import { type CaseDraft, type CaseEnv, type Expectation, bytesNote, callCluster, describe, free, fuzzMachine, maybeBytes } from './case-model.js';
import { deepJsonText, hostileNumber, hostileString, prototypeKeys } from './hostile.js';
import type { MethodSchema } from './schema.js';

/** Filters of the KV `watch` shape: valid ones, and the same fields bent. */
const watchFilters: readonly unknown[] = [
  { key: 'a' }, { key: '', prefix: true }, { key: 'dir/', prefix: true, prevKv: true }, { key: 'a', rangeEnd: '\u0000' }, { key: 'a', rangeEnd: 'z', noPut: true },
  { key: 'k1', noDelete: true, prevKv: true }, { key: 'big/', prefix: true, prevKv: true }, { key: '', prefix: true, prevKv: true },
  {}, { key: 5 }, { key: null }, { key: 'a', prefix: 'yes' }, { key: 'a', prefix: true, rangeEnd: 'b' }, { key: '' }, { key: 'a', extra: 1 },
  { key: 'a', prevKv: 1 }, { key: 'a', rangeEnd: 7 }, { key: 'k'.repeat(kvLimits.maxKeyBytes + 1) }, { key: 'a', rangeEnd: 'r'.repeat(kvLimits.maxKeyBytes + 1) },
  [], ['a'], 'a', 0, true,
];

/** Filter texts a JSON reader may trip on. */
const trickyFilters: readonly string[] = [
  '{"__proto__":{"key":"a"}}', '{"__proto__":{"key":"a"},"key":"b"}', '{"constructor":{"prototype":{"key":"x"}},"key":"c"}',
  '{"key":"a","key":"b"}', '{"key":"a","prefix":true,"prefix":false}', 'null', '"text"', '1e400', '{"key":"\\ud800"}', ' {"key":"a"} ',
];

const notJson: readonly string[] = ['undefined', 'NaN', '{', '{"key":', "{'key':'a'}", '{"key":"a"}x', '[1,]', '\u0000'];

const sizedFilters = new Map<number, string>();

/** `{"key":"fff…"}` of exactly `bytes` bytes of text (made once per process and size). */
function sizedFilter(bytes: number): string {
  let text = sizedFilters.get(bytes);
  if (text === undefined) {
    text = JSON.stringify({ key: 'f'.repeat(bytes - '{"key":""}'.length) });
    sizedFilters.set(bytes, text);
  }
  return text;
}

function feedName(env: CaseEnv, rng: Prng): string {
  const own = Object.keys(env.app.feeds ?? {});
  const r = rng.next();
  if (r < 0.6 && own.length > 0) return rng.pick(own);
  if (r < 0.75) return rng.pick(prototypeKeys);
  if (r < 0.8) return rng.pick(['', 'x'.repeat(64), 'x'.repeat(65), 'watch\u0000', 'Watch']);
  return hostileString(rng);
}

/** A filter's text (undefined: the field left out) and how it was made. */
function filterText(rng: Prng): { text: string | undefined; shape: string } {
  const r = rng.next();
  // The large keys of the KV scenario (kv-args.ts) with prevKv: their deletes are events in parts.
  if (r < 0.1) return { text: '{"key":"big/","prefix":true,"prevKv":true}', shape: 'big keys' };
  if (r < 0.5) return { text: JSON.stringify(rng.pick(watchFilters)), shape: 'watch-shaped' };
  if (r < 0.6) return { text: rng.pick(trickyFilters), shape: 'tricky' };
  if (r < 0.67) return { text: rng.pick(notJson), shape: 'not-json' };
  if (r < 0.77) {
    const depth = rng.pick([limits.maxJsonDepth, limits.maxJsonDepth + 1, 10_000, 200_000]);
    return { text: deepJsonText(depth, rng.chance(0.5)), shape: `${depth}-deep` };
  }
  if (r < 0.83) {
    const bytes = rng.pick([limits.maxRequestBytes, limits.maxRequestBytes + 1, 4 * 1024 * 1024]);
    return { text: sizedFilter(bytes), shape: `${bytes} bytes` };
  }
  if (r < 0.9) return { text: rng.chance(0.5) ? '' : undefined, shape: 'none' };
  return { text: hostileString(rng), shape: 'hostile text' };
}

/** A position: mostly small (within or near the store's revisions), else hostile. */
function after(rng: Prng): number | undefined {
  const r = rng.next();
  if (r < 0.15) return undefined;
  if (r < 0.65) return rng.between(0, 60);
  return rng.chance(0.3) ? rng.pick([Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 63, -1, -(2 ** 63), 0.5]) : hostileNumber(rng);
}

export function feedsCase(env: CaseEnv, rng: Prng): CaseDraft {
  const cluster = callCluster(env, rng);
  const method = env.schema.method(feedsCodec.service);
  const feed = feedName(env, rng);
  const filter = filterText(rng);
  const position = after(rng);
  const fields: Record<string, unknown> = { ...cluster.fields, feed };
  if (filter.text !== undefined) fields['filter'] = filter.text;
  if (position !== undefined) fields['after'] = position;
  const payload = maybeBytes(env, method, fields, rng, 0.1);
  const expect: Expectation = payload.form === 'bytes' ? free : cluster.refuse ?? subscribeRule(env, method, fields);
  return {
    service: method.service, method: method.name, to: rng.int(env.wire.nodes.length), toPrimary: rng.chance(0.7), from: fuzzMachine, payload, expect,
    label: `subscribe feed ${describe(feed)} filter ${filter.shape} (${filter.text?.length ?? 0} chars) after ${String(position)}${bytesNote(payload)}`,
  };
}

/** What the rules demand of a subscription, judged on the fields as the node will read them (see the file comment). */
function subscribeRule(env: CaseEnv, method: MethodSchema, fields: Record<string, unknown>): Expectation {
  let seen = fields;
  if (env.real) {
    try {
      seen = method.deserializeRequest(method.serialize(fields));
    } catch {
      return free; // protobuf cannot carry it: the case is not sent
    }
  }
  let request: { feed: string; filter: Json };
  try {
    request = feedsCodec.decodeRequest(seen);
  } catch (err) {
    const why = (err as Error).message;
    if (/nested deeper/.test(why)) return { kind: 'refuse', why, names: 'limits.maxJsonDepth' };
    // Within what the transport carries, a filter over the request limit is the codec's to refuse, naming it (issue 12).
    const bytes = Buffer.byteLength(typeof seen['filter'] === 'string' ? seen['filter'] : '', 'utf8');
    if (/filter: more than/.test(why) && bytes < limits.maxMessageBytes - 1024) return { kind: 'refuse', why, names: 'limits.maxRequestBytes' };
    return { kind: 'refuse', why };
  }
  const feeds = env.app.feeds ?? {};
  if (!Object.hasOwn(feeds, request.feed)) return { kind: 'not-accepted', why: `the app has no feed ${describe(request.feed)}` };
  try {
    feeds[request.feed]!(request.filter);
  } catch (err) {
    return { kind: 'not-accepted', why: `the feed refuses the filter: ${(err as Error).message}` };
  }
  return free;
}
