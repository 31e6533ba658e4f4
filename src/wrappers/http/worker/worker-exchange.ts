/**
 * One request served by a component worker thread, from the server's side: the head goes to the
 * worker, the body follows as the client sends it (never more than the request ring holds ahead of
 * the guest's reads), and the response is written to the client record by record as the guest
 * produces it. When the client reads slower than the guest writes, the records wait in the
 * response ring and the guest waits for room: the bytes in flight stay bounded both ways.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Trap } from '../../../errors.ts';
import { decodeError } from '../../../runtime/worker/error-codec.ts';
import { RequestBodyTooLarge, StreamedBody } from '../backend.ts';
import { bodyless } from '../http-headers.ts';
import { MalformedResponse } from '../wagi.ts';
import type { ComponentWorker } from './component-worker.ts';
import {
  BODY_ABORT, BODY_CHUNK, BODY_END, DONE, MAX_HEAD_CHARS, MAX_PIECE, REQUEST_HEAD, RESPONSE_CHUNK, RESPONSE_END, RESPONSE_HEAD, type ExchangeMemory, type RingRecord,
} from './exchange-memory.ts';
import { parseResponseHead, requestHeadText } from './record-heads.ts';

export class WorkerExchange {
  readonly result: Promise<number>;
  /** When it was sent to its thread: the age of the request a thread serves says whether it keeps up. */
  since = 0;
  /** When it began to wait for a thread. */
  waitingSince = 0;
  /** The thread it was sent to, while it is there. */
  owner: ComponentWorker | undefined;
  /** Its number on that thread (claim word and order). */
  seq = -1;
  /** Whether the worker has all of the body (or there is none): requests may then queue behind it. */
  bodySent: boolean;
  /** Waiting for the client to take what was written (`res.write` returned false). */
  paused = false;
  /** Called when a paused exchange may go on: the thread drains its records again. */
  onResume: (() => void) | undefined;
  /** Settled: the worker is done with this request, or gone. Nothing is sent to it after that. */
  finished = false;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly body: Uint8Array | StreamedBody;
  private memory: ExchangeMemory | undefined;
  private resolve!: (bytesOut: number) => void;
  private reject!: (err: unknown) => void;
  private bytesOut = 0;
  private headWritten = false;
  /** Whether anything has gone to the client since the head was written (else the head is flushed on its own). */
  private flushed = false;
  private ended = false;
  /** The body passed the limit: the guest's answer to a truncated body is never sent. */
  private tooLarge = false;
  private clientGone = false;
  private watchingClose = false;
  private malformed: MalformedResponse | undefined;
  /** A sender waiting for room in the request ring. */
  private roomWaiter: (() => void) | undefined;

  constructor(req: IncomingMessage, res: ServerResponse, body: Uint8Array | StreamedBody) {
    this.req = req;
    this.res = res;
    this.body = body;
    this.bodySent = !this.hasBody;
    this.result = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /**
   * The client went away: whatever the guest still sends is dropped (its body reads fail, as the
   * request stream errors). Watched only while a write waits for the client: anything else written
   * to a closed response is dropped by Node.
   */
  private readonly closed = (): void => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.resume();
  };

  get hasBody(): boolean {
    return this.body instanceof StreamedBody || this.body.length > 0;
  }

  /** Sends the head to a thread's worker as request number `seq`, then the body as it comes. */
  start(owner: ComponentWorker, memory: ExchangeMemory, seq: number): void {
    this.owner = owner;
    this.memory = memory;
    this.seq = seq;
    this.since = performance.now();
    const { req, body } = this;
    const head = requestHeadText(seq, req.method ?? 'GET', req.url ?? '/', req.headers.host ?? '', this.hasBody, req.rawHeaders);
    memory.offer(seq);
    void this.send(REQUEST_HEAD, head).then((sent) => {
      if (sent && this.hasBody) void this.pump(body instanceof StreamedBody ? body : [body]);
    });
  }

  /** Back from a thread that has not started it: it will be sent again, elsewhere. */
  unbind(): void {
    this.owner = undefined;
    this.memory = undefined;
    this.seq = -1;
    // A head still waiting for room there gives up.
    this.roomMade();
  }

  /** The request fails with `error` (a deadline, or its worker died). */
  fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.roomMade();
    // However the guest met the cut-off body, the cause to answer for is the body.
    this.reject(this.tooLarge ? new RequestBodyTooLarge((this.body as StreamedBody).max) : error);
  }

  /** The thread's bell rang: a sender waiting for room in the request ring tries again. */
  roomMade(): void {
    const waiter = this.roomWaiter;
    this.roomWaiter = undefined;
    waiter?.();
  }

  /** Writes a record to the worker, waiting for room; false once that worker no longer listens. */
  private async send(type: number, text: string, bytes?: Uint8Array): Promise<boolean> {
    // Bound to the thread it began on: after a move elsewhere, what was meant for the old one is dropped.
    const memory = this.memory;
    for (;;) {
      if (this.finished || !memory || this.memory !== memory) return false;
      if (memory.requests.write(type, text, bytes)) {
        memory.ringWorkerSoon();
        return true;
      }
      memory.wantRequestRoom();
      // The worker may have made room between the failed write and the flag.
      if (memory.requests.write(type, text, bytes)) {
        memory.ringWorkerSoon();
        return true;
      }
      await new Promise<void>((resolve) => (this.roomWaiter = resolve));
    }
  }

  /** Forwards the request body as the client sends it. */
  private async pump(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of source) {
        for (let at = 0; at < chunk.length; at += MAX_PIECE) {
          if (!(await this.send(BODY_CHUNK, '', chunk.subarray(at, at + MAX_PIECE)))) return;
        }
      }
      if (await this.send(BODY_END, '')) this.bodySent = true;
    } catch (err) {
      if (err instanceof RequestBodyTooLarge) {
        this.tooLarge = true;
        // From here the guest's answer is to a truncated body: it must not reach the client.
        this.resume();
      }
      if (await this.send(BODY_ABORT, '')) this.bodySent = true;
    } finally {
      // What the guest did not wait for is read and dropped, so the connection can carry the next request.
      this.req.resume();
    }
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.onResume?.();
  }

  private get discarding(): boolean {
    return this.tooLarge || this.clientGone || this.malformed !== undefined;
  }

  /** Applies one of the worker's records for this request; true once it was the last (DONE). */
  apply(record: RingRecord): boolean {
    switch (record.type) {
      case RESPONSE_HEAD:
        this.head(record.text, record.bytes);
        return false;
      case RESPONSE_CHUNK:
        this.write(record.bytes);
        return false;
      case RESPONSE_END:
        if (!this.discarding && this.headWritten && !this.ended) {
          this.ended = true;
          this.res.end();
        }
        return false;
      case DONE:
        this.done(record.text);
        return true;
      default:
        this.fail(new Trap('unknown', `the component worker sent an unexpected record (${record.type})`));
        return true;
    }
  }

  /** After a batch of records: a head with no body yet goes out alone, so the client sees it while the guest works on. */
  flush(): void {
    if (this.headWritten && !this.flushed && !this.ended && !this.discarding && !this.finished) {
      this.flushed = true;
      this.res.flushHeaders();
    }
  }

  private head(text: string, body: Uint8Array): void {
    const { status, length, inline, headers } = parseResponseHead(text);
    if (this.discarding) return;
    if (status === 0) {
      this.malformed = new MalformedResponse(`the guest's response head is larger than ${MAX_HEAD_CHARS} characters`);
      return;
    }
    // A finished body's length spares the client chunked decoding.
    if (length >= 0 && !bodyless(status)) headers.push('content-length', String(length));
    try {
      this.res.writeHead(status, headers);
    } catch (err) {
      // Node refuses what HTTP cannot carry (a status out of range, characters a header cannot hold).
      this.malformed = new MalformedResponse(`the guest's response head cannot be sent: ${(err as Error).message}`);
      return;
    }
    this.headWritten = true;
    if (inline) {
      this.bytesOut += body.length;
      this.ended = this.flushed = true;
      this.res.end(body);
    }
  }

  private write(chunk: Uint8Array): void {
    if (this.discarding || !this.headWritten || this.ended) return;
    if (this.res.destroyed) {
      this.clientGone = true;
      return;
    }
    this.bytesOut += chunk.length;
    this.flushed = true;
    if (!this.res.write(chunk)) {
      this.paused = true;
      if (!this.watchingClose) {
        this.watchingClose = true;
        this.res.once('close', this.closed);
      }
      this.res.once('drain', () => this.resume());
    }
  }

  private done(error: string): void {
    this.finished = true;
    this.roomMade();
    if (this.tooLarge) return this.reject(new RequestBodyTooLarge((this.body as StreamedBody).max));
    if (error) return this.reject(decodeError(error));
    if (this.malformed) return this.reject(this.malformed);
    // A body the guest left open ended with its handler; the worker always says so first.
    if (!this.clientGone && !this.ended) {
      this.ended = true;
      this.res.end();
    }
    this.resolve(this.bytesOut);
  }
}
