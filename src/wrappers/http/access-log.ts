import { JsonLinesLog } from '../json-lines-log.ts';

/** One line of the JSON-lines access log: one answered request. */
export interface AccessLogEntry {
  /** When the request ended, as an ISO 8601 timestamp. */
  time: string;
  /** Id of the server that answered. */
  server: string;
  /** The process serving it. */
  pid: number;
  /** With several processes (`serve --workers N`), the cluster worker's number. */
  worker?: number;
  /** HTTP method. */
  method: string;
  /** Path and query of the request. */
  path: string;
  /** Status code sent. */
  status: number;
  /** Time from the request's arrival to its answer, in ms. */
  durationMs: number;
  /** Request body bytes received. */
  bytesIn: number;
  /** Response body bytes sent. */
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
