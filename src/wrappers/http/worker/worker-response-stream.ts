/**
 * The worker's side of a streamed response: where the guest's response goes as it produces it. The
 * head goes to the server as soon as the guest sets it (with whatever body it wrote before, and its
 * length when that body is already finished), then each write, then the end. When the response ring
 * is full the guest waits until the server has passed earlier bytes on to the client.
 */
import { ResourceLimitExceeded } from '../../../errors.ts';
import type { ResponseSink } from '../../../component/wasi/http.ts';
import { clientResponseHeaders } from '../http-headers.ts';
import { MAX_HEAD_CHARS, MAX_PIECE, RESPONSE_CHUNK, RESPONSE_END, RESPONSE_HEAD, type ExchangeMemory } from './exchange-memory.ts';
import { responseHeadText, UNSENDABLE_HEAD } from './record-heads.ts';

const EMPTY = new Uint8Array(0);

export class WorkerResponseStream implements ResponseSink {
  private readonly memory: ExchangeMemory;
  private readonly maxBytes: number | null;
  private sent = 0;

  constructor(memory: ExchangeMemory, maxBytes: number | null) {
    this.memory = memory;
    this.maxBytes = maxBytes;
  }

  head(status: number, headers: [string, string][], body: readonly Uint8Array[], ended: boolean): void {
    let length = 0;
    for (const chunk of body) length += chunk.length;
    this.count(length);
    const whole = body.length === 1 ? body[0] : concat(body, length);
    // A finished body that fits one record travels with its head: one record, one wake of the server.
    const inline = ended && whole.length <= MAX_PIECE;
    let text = responseHeadText(status, ended ? length : -1, inline, clientResponseHeaders(headers));
    // The server answers 502 for it, and drops the rest of the response; the guest runs on unaware.
    if (text.length > MAX_HEAD_CHARS) text = UNSENDABLE_HEAD;
    if (inline) {
      // A whole answer given at once is normally followed at once by the handler's return: the
      // server is rung with the DONE (or before anything else this thread waits for), so it takes
      // both in one wake and counts the request done by the time its client has the answer.
      this.memory.sendToServer(RESPONSE_HEAD, text, whole, true);
      return;
    }
    this.memory.sendToServer(RESPONSE_HEAD, text);
    this.forward(whole);
    if (ended) this.memory.sendToServer(RESPONSE_END, '');
  }

  body(bytes: Uint8Array): void {
    this.count(bytes.length);
    this.forward(bytes);
  }

  end(): void {
    this.memory.sendToServer(RESPONSE_END, '');
  }

  private count(n: number): void {
    this.sent += n;
    if (this.maxBytes !== null && this.sent > this.maxBytes) throw new ResourceLimitExceeded('output-bytes', this.maxBytes, this.sent);
  }

  private forward(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; at += MAX_PIECE) this.memory.sendToServer(RESPONSE_CHUNK, '', bytes.subarray(at, at + MAX_PIECE));
  }
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 0) return EMPTY;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
