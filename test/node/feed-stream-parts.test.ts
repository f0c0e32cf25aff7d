// FeedStream sends an event larger than a message in parts: one part per drained buffer, its
// cursor past the event only with the last part, the next events after it, and what it held in
// parts given back to the node's budget when the last part goes or the stream ends midway.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../src/env/logger.js';
import type { ServerStream, ServerStreamEnd, StreamEnd } from '../../src/env/streams.js';
import { FeedStream, type PartsBudget } from '../../src/node/feed-stream.js';
import { feedOptions } from '../../src/options.js';
import type { Feed, FeedEvent } from '../../src/rsm/feed.js';
import { FeedFragments, type FeedStreamMessage } from '../../src/rsm/feeds-wire.js';

/** A feed of the events in `state`, by position. */
const listFeed: Feed<readonly FeedEvent[]> = {
  head: (s) => s.at(-1)?.position ?? 0,
  filter: (f) => f,
  read: (s, after, _f, max) => {
    const events = s.filter((e) => e.position > after).slice(0, max);
    return { kind: 'events', events, through: events.length === max ? events.at(-1)!.position : Math.max(after, s.at(-1)?.position ?? 0) };
  },
};

/** A stream that takes one message per drain (`drain()`), as gRPC's flow control does. */
class FlowStream implements ServerStream<FeedStreamMessage> {
  readonly peer = 'test';
  open = true;
  sent: FeedStreamMessage[] = [];
  ended: ServerStreamEnd | null = null;
  #resume: (() => void) | null = null;
  #onEnded: Array<(end: StreamEnd) => void> = [];
  accept(): void {}
  send(m: FeedStreamMessage): boolean {
    if (!this.open) return false;
    this.sent.push(m);
    return true;
  }
  end(reason: ServerStreamEnd): void {
    this.open = false;
    this.ended = reason;
    for (const l of this.#onEnded) l(reason as StreamEnd);
  }
  onEnded(listener: (end: StreamEnd) => void): void {
    this.#onEnded.push(listener);
  }
  whenWritable(resume: () => void): void {
    this.#resume = resume;
  }
  drain(): void {
    const r = this.#resume;
    this.#resume = null;
    r?.();
  }
}

function budget(bytes: number): PartsBudget & { held: number } {
  const b = { held: 0, take: (n: number) => (b.held + n > bytes ? false : (b.held += n, true)), give: (n: number) => void (b.held -= n) };
  return b;
}

const big = { text: 'é'.repeat(3 * 1024 * 1024) + '👍'.repeat(1000) }; // 6 MiB of UTF-8, past one message
const state: FeedEvent[] = [{ position: 1, event: 'small' }, { position: 2, event: big }, { position: 3, event: 'after' }];

function open(stream: FlowStream, b: PartsBudget): FeedStream<readonly FeedEvent[]> {
  return new FeedStream(stream, 'list', listFeed as Feed<readonly FeedEvent[]>, null, 1, feedOptions(), 4 * 1024 * 1024, silentLogger, 0, b);
}

test('an event past a message goes in parts, one per drain; the cursor passes it with the last; the budget gets its bytes back', () => {
  const stream = new FlowStream();
  const b = budget(64 * 1024 * 1024);
  const s = open(stream, b);
  const pump = (): void => void s.pump(state, 3, true, 0, pump);
  pump();
  assert.deepEqual(stream.sent.map((m) => m.kind), ['fragment'], 'one part, then it waits for the subscriber');
  assert.ok(b.held > 6 * 1024 * 1024, 'the event is held while in parts');
  for (let i = 0; i < 100; i++) {
    const m = stream.sent.at(-1)!;
    if (m.kind !== 'fragment' || m.last) break;
    assert.equal(s.cursor, 1, 'the cursor stays below the event in parts');
    stream.drain();
  }
  assert.equal(s.cursor, 2, 'past it with the last part');
  stream.drain();
  const parts = stream.sent.filter((m) => m.kind === 'fragment');
  assert.ok(parts.length > 20, `${parts.length} parts`);
  const joiner = new FeedFragments();
  const joined = parts.map((p) => joiner.add(p)).at(-1);
  assert.deepEqual(joined, { position: 2, event: big }, 'the parts join to the event, no character cut');
  assert.deepEqual(stream.sent.at(-1), { kind: 'events', events: [{ position: 3, event: 'after' }], through: 3 });
  assert.equal(s.cursor, 3);
  assert.equal(b.held, 0);
});

test('a stream that ends between parts gives its bytes back; one past the budget ends overloaded', () => {
  const b = budget(64 * 1024 * 1024);
  const stream = new FlowStream();
  const s = open(stream, b);
  stream.onEnded(() => s.ended());
  s.pump(state, 3, true, 0, () => {});
  assert.ok(b.held > 0);
  stream.end({ kind: 'unavailable', detail: 'the node is stopping' });
  assert.equal(b.held, 0);
  const tight = new FlowStream();
  open(tight, budget(1024 * 1024)).pump(state, 3, true, 0, () => {});
  assert.equal(tight.ended?.kind, 'overloaded');
  assert.match(tight.ended?.detail ?? '', /feeds\.maxBytesInParts/);
});
