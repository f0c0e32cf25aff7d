/**
 * A feed subscriber that stops reading at the HTTP/2 level: one `synod.rsm.Feeds/Subscribe` call
 * made by hand over `node:http2`, whose response body is paused. Its flow-control window
 * (`windowBytes`) fills, the server's writes back up, and the server's pump stalls — what a
 * wedged client does. grpc-js's own client cannot stand for one: it reads into memory as fast as
 * the socket allows. Once resumed it reads what the server sent and decodes it with the feed
 * service's own codec.
 */
import { readFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import type { ClientTlsFiles } from '../../src/runtime/tls-files.js';
import type { Json } from '../../src/rsm/app.js';
import { type FeedStreamMessage, feedsCodec } from '../../src/rsm/feeds-wire.js';
import { protoPackage } from '../../src/runtime/proto.js';

interface SubscribeMethod {
  requestSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): Record<string, unknown>;
}

const subscribeMethod = (): SubscribeMethod =>
  (protoPackage()['synod.rsm.Feeds'] as unknown as Record<string, SubscribeMethod>)['Subscribe']!;

export class StalledFeedSubscriber {
  readonly #session: http2.ClientHttp2Session;
  readonly #request: http2.ClientHttp2Stream;
  #headers: http2.IncomingHttpHeaders | null = null;

  /** Subscribes to `feed` with `filter` after `after` at `address`, and reads nothing. */
  /** `tls`: the client's files when the nodes run with TLS (`--tls`); default plaintext. */
  constructor(opts: { address: string; cluster: string; feed: string; filter: Json; after: number; windowBytes?: number; tls?: ClientTlsFiles }) {
    const body = subscribeMethod().requestSerialize({ cluster: opts.cluster, ...feedsCodec.encodeRequest({ feed: opts.feed, filter: opts.filter, after: opts.after }) });
    const frame = Buffer.alloc(5 + body.length); // gRPC framing: not compressed, 4-byte length, the message
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    const settings = { initialWindowSize: opts.windowBytes ?? 65_535 };
    const tls = opts.tls;
    this.#session = tls === undefined
      ? http2.connect(`http://${opts.address}`, { settings })
      : http2.connect(`https://${opts.address}`, {
        settings, ca: readFileSync(tls.ca), ...(tls.cert === undefined ? {} : { cert: readFileSync(tls.cert), key: readFileSync(tls.key!) }),
      });
    this.#session.on('error', () => {}); // the read below reports what matters
    this.#request = this.#session.request({ ':method': 'POST', ':path': '/synod.rsm.Feeds/Subscribe', 'content-type': 'application/grpc', te: 'trailers' });
    this.#request.on('error', () => {});
    this.#request.on('response', (headers) => (this.#headers = headers));
    this.#request.end(frame);
    this.#request.pause();
  }

  /**
   * Starts reading: resolves once the server ended the call, with every message it had sent (the
   * feed codec's decoding) and the call's gRPC status.
   */
  async readToEnd(): Promise<{ messages: FeedStreamMessage[]; grpcStatus: number; grpcMessage: string }> {
    const chunks: Buffer[] = [];
    // The status comes in the trailers, or in the headers of a call refused at once (gRPC's trailers-only response).
    let status: http2.IncomingHttpHeaders = this.#headers ?? {};
    this.#request.on('trailers', (t) => (status = t));
    const closed = new Promise<void>((resolve) => this.#request.on('close', resolve));
    this.#request.on('data', (c: Buffer) => chunks.push(c));
    this.#request.resume();
    await closed;
    this.#session.close();
    const data = Buffer.concat(chunks);
    const method = subscribeMethod();
    const messages: FeedStreamMessage[] = [];
    for (let at = 0; at + 5 <= data.length;) {
      const length = data.readUInt32BE(at + 1);
      messages.push(feedsCodec.decodeMessage(method.responseDeserialize(data.subarray(at + 5, at + 5 + length))));
      at += 5 + length;
    }
    return { messages, grpcStatus: Number(status['grpc-status'] ?? this.#headers?.['grpc-status']), grpcMessage: String(status['grpc-message'] ?? this.#headers?.['grpc-message'] ?? '') };
  }

  close(): void {
    this.#session.destroy();
  }
}
