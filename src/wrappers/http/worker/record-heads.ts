/**
 * The text of REQUEST_HEAD and RESPONSE_HEAD records: fields one per line, cheaper both ways than
 * JSON on the server's thread, where every microsecond of a request counts. No field can hold a line
 * break: Node refuses them in methods, targets and header lines, and wasi:http in header values.
 */

export interface RequestHead {
  /** The request's number on its thread (see the claim words). */
  seq: number;
  method: string;
  path: string;
  authority: string;
  hasBody: boolean;
  /** Node's raw header pairs, flat: filtered on the worker, off the server's thread. */
  rawHeaders: string[];
}

export function requestHeadText(seq: number, method: string, path: string, authority: string, hasBody: boolean, rawHeaders: readonly string[]): string {
  const head = `${seq}\n${method}\n${path}\n${authority}\n${hasBody ? 1 : 0}`;
  return rawHeaders.length === 0 ? head : `${head}\n${rawHeaders.join('\n')}`;
}

export function parseRequestHead(text: string): RequestHead {
  const lines = text.split('\n');
  return { seq: Number(lines[0]), method: lines[1], path: lines[2], authority: lines[3], hasBody: lines[4] === '1', rawHeaders: lines.slice(5) };
}

export interface ResponseHead {
  status: number;
  /** The body's length when it is known (finished when the head was set), else -1. */
  length: number;
  /** The record carries the whole body (its bytes) and ends the response. */
  inline: boolean;
  /** For writeHead: names and values, flat. */
  headers: string[];
}

/** What stands for a response head too large to send (status 0, which no response has). */
export const UNSENDABLE_HEAD = '0\n-1\n0';

export function responseHeadText(status: number, length: number, inline: boolean, headers: readonly string[]): string {
  const head = `${status}\n${length}\n${inline ? 1 : 0}`;
  return headers.length === 0 ? head : `${head}\n${headers.join('\n')}`;
}

export function parseResponseHead(text: string): ResponseHead {
  const lines = text.split('\n');
  return { status: Number(lines[0]), length: Number(lines[1]), inline: lines[2] === '1', headers: lines.slice(3) };
}
