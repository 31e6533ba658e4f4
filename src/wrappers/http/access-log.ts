import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

export interface AccessLogEntry {
  time: string;
  server: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  /** `ok`, or why the guest did not answer: `trap`, `timeout`, `limit`, `overloaded`, `too-large`, `bad-response`, `error`. */
  outcome: string;
  /** The typed error's code, for operators; never sent to the client. */
  error?: string;
}

/** JSON lines, one per request, to a stream or a file. */
export class AccessLog {
  private readonly out: Writable | undefined;
  private readonly owned: WriteStream | undefined;

  constructor(target: Writable | string | false | undefined) {
    if (typeof target === 'string') {
      this.owned = createWriteStream(target, { flags: 'a' });
      this.out = this.owned;
    } else {
      this.out = target || undefined;
    }
  }

  write(entry: AccessLogEntry): void {
    this.out?.write(`${JSON.stringify(entry)}\n`);
  }

  async close(): Promise<void> {
    const owned = this.owned;
    if (owned) await new Promise<void>((resolve) => owned.end(resolve));
  }
}
