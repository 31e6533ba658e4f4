/**
 * Shared pieces of the HTTP server tests: fixture paths, a JSON-lines access log collected in
 * memory, and a raw client for what fetch cannot do (sending a body piece by piece while reading
 * the answer, reading slowly, noticing a cut response).
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const ECHO = fileURLToPath(new URL('../../../fixtures/components/http-echo.wasm', import.meta.url));
export const HELLO = fileURLToPath(new URL('../../../fixtures/components/http-hello.wasm', import.meta.url));

export interface LogLine {
  path: string;
  status: number;
  outcome: string;
  error?: string;
  bytesIn: number;
  bytesOut: number;
}

/** An access log stream and the lines written to it so far. */
export function accessLog(): { stream: PassThrough; lines: LogLine[] } {
  const stream = new PassThrough();
  const lines: LogLine[] = [];
  stream.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n').map((l) => JSON.parse(l) as LogLine)));
  return { stream, lines };
}

/** A chunked POST whose body the test writes itself; resolves once the response head is in. */
export async function openPost(port: number, path: string): Promise<{ req: ClientRequest; res: IncomingMessage; reader: ByteReader }> {
  const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
  req.flushHeaders();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  return { req, res, reader: new ByteReader(res) };
}

/** Reads a response's body in exact amounts, as it arrives. */
export class ByteReader {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private failed: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(res: IncomingMessage) {
    res.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      this.notify();
    });
    res.on('end', () => {
      this.ended = true;
      this.notify();
    });
    res.on('error', (err) => {
      this.failed = err;
      this.notify();
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Exactly `n` bytes; rejects if the body ends first. */
  async read(n: number): Promise<Buffer> {
    while (this.buffered.length < n) {
      if (this.failed) throw this.failed;
      if (this.ended) throw new Error(`the body ended after ${this.buffered.length} of ${n} bytes`);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  /** Everything up to the end of the body; `cut` when the connection broke first. */
  async rest(): Promise<{ body: Buffer; cut: boolean }> {
    while (!this.ended && !this.failed) await new Promise<void>((resolve) => (this.wake = resolve));
    return { body: this.buffered, cut: this.failed !== undefined };
  }
}

/** A chunked POST of `chunks`, one write each; the result says whether the answer was cut off. */
export function postChunks(port: number, path: string, chunks: Uint8Array[]): Promise<{ status: number; body: Buffer; cut: boolean }> {
  return new Promise((resolve) => {
    let status = 0;
    const parts: Buffer[] = [];
    const cut = () => resolve({ status, body: Buffer.concat(parts), cut: true });
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      status = res.statusCode!;
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status, body: Buffer.concat(parts), cut: !res.complete }));
      res.on('error', cut);
    });
    // A refusal may close the connection under later writes.
    req.on('error', cut);
    void (async () => {
      for (const chunk of chunks) {
        if (req.destroyed) return;
        if (!req.write(chunk)) await Promise.race([once(req, 'drain'), once(req, 'close')]);
      }
      req.end();
    })();
  });
}

/** Polls until `check` holds, for about 30 s at most (the caller then asserts what it waited for). */
export async function until(check: () => boolean): Promise<void> {
  // Bounded, so that a condition that never comes fails the assertion after it instead of hanging.
  for (let i = 0; i < 6000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
}
