import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * One kind of guest behind the HTTP server. `serve` answers one request, writing the guest's response
 * to `res`, and resolves with the body bytes sent. The body arrives read whole, or, for a backend
 * that `streamsRequestBody`, as a StreamedBody the guest reads while the client is still sending.
 * Failures are thrown as typed errors (or MalformedResponse, RequestBodyTooLarge) and mapped to
 * statuses by the server, which owns concurrency, logging and shutdown.
 */
export interface HttpBackend {
  readonly kind: 'wagi' | 'wasi-http';
  readonly streamsRequestBody: boolean;
  serve(req: IncomingMessage, res: ServerResponse, body: Uint8Array | StreamedBody): Promise<number>;
  /** Guest instances alive now (worker threads holding one, idle reusable ones, running ones). */
  instances(): number;
  /** Told of every operation a guest was refused (for the metrics). */
  onViolation: ((capability: string) => void) | undefined;
  /** Passes on refusals counted elsewhere (on other threads) to `onViolation` now: before a scrape. */
  flushViolations?(): void;
  close(): Promise<void>;
}

/** The body passed `maxRequestBodyBytes` while the guest was reading it; the server answers 413. */
export class RequestBodyTooLarge extends Error {
  constructor(max: number) {
    super(`the request body is larger than ${max} bytes`);
    this.name = 'RequestBodyTooLarge';
  }
}

/** A request body handed on as it arrives; iterating past `max` bytes throws RequestBodyTooLarge. */
export class StreamedBody implements AsyncIterable<Uint8Array> {
  private readonly req: IncomingMessage;
  readonly max: number;
  /** Bytes handed on so far. */
  received = 0;
  tooLarge = false;

  constructor(req: IncomingMessage, max: number) {
    this.req = req;
    this.max = max;
  }

  /** The length the client declared, when it did. */
  get declaredLength(): number | undefined {
    const n = Number(this.req.headers['content-length']);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    // Leaving the loop early must not destroy the request: that would take the socket, and the 413, with it.
    for await (const chunk of this.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      if (this.received + chunk.length > this.max) {
        this.tooLarge = true;
        // The rest is drained, not stored, so the 413 can still be read by the client.
        this.req.resume();
        throw new RequestBodyTooLarge(this.max);
      }
      this.received += chunk.length;
      yield chunk;
    }
  }
}
