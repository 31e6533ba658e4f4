import { JsonLinesLog } from '../json-lines-log.ts';

export interface AccessLogEntry {
  time: string;
  server: string;
  /** The process serving it, and with several (`serve --workers N`) the cluster worker's number. */
  pid: number;
  worker?: number;
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
export class AccessLog extends JsonLinesLog<AccessLogEntry> {
  write(entry: AccessLogEntry): void {
    this.append(entry);
  }
}
