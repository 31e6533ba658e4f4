import type { IncomingMessage } from 'node:http';
import { isHopByHop } from './http-headers.ts';

/**
 * The WAGI convention (CGI for WebAssembly): the request travels as environment variables plus the
 * body on stdin; the response comes back on stdout as header lines, a blank line, and the body.
 */

export interface CgiContext {
  serverName: string;
  serverPort: number;
  remoteAddr: string;
  /** Undefined when the body streams without a declared length (CONTENT_LENGTH is then left unset). */
  bodyLength: number | undefined;
  /** The route prefix the handler is mounted at ("/" for a whole-server app). */
  route: string;
}

/** Header names become `HTTP_*` variables; these carry credentials between hops and are never passed. */
const WITHHELD = new Set(['authorization', 'proxy-authorization', 'cookie']);

export function cgiEnvironment(req: IncomingMessage, ctx: CgiContext): Record<string, string> {
  const url = new URL(req.url ?? '/', 'http://placeholder');
  const env: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'wasm-sandbox',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_NAME: ctx.serverName,
    SERVER_PORT: String(ctx.serverPort),
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: ctx.route === '/' ? '' : ctx.route,
    PATH_INFO: decodeURIComponentSafe(url.pathname),
    X_RAW_PATH_INFO: url.pathname,
    QUERY_STRING: url.search.slice(1),
    X_FULL_URL: `http://${req.headers.host ?? `${ctx.serverName}:${ctx.serverPort}`}${req.url ?? '/'}`,
    X_MATCHED_ROUTE: ctx.route,
    REMOTE_ADDR: ctx.remoteAddr,
    REMOTE_HOST: ctx.remoteAddr,
    CONTENT_TYPE: req.headers['content-type'] ?? '',
  };
  if (ctx.bodyLength !== undefined) env.CONTENT_LENGTH = String(ctx.bodyLength);
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || WITHHELD.has(name) || name === 'content-type' || name === 'content-length') continue;
    env[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`] = Array.isArray(value) ? value.join(', ') : value;
  }
  return env;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export interface ParsedHead {
  status: number;
  headers: [string, string][];
}

/** Raised for output that is not a CGI response; the server answers 502 without echoing it. */
export class MalformedResponse extends Error {}

const MAX_HEAD_BYTES = 64 * 1024;

/**
 * Incremental parser for the guest's stdout: buffers until the blank line ending the headers, then
 * hands back the head once and every later byte as body.
 */
export class CgiResponseParser {
  private head: Buffer[] = [];
  private headBytes = 0;
  private done = false;

  /** Returns the head when it completes in this chunk, plus any body bytes that followed it. */
  push(chunk: Uint8Array): { head?: ParsedHead; body?: Uint8Array } {
    if (this.done) return { body: chunk };
    this.head.push(Buffer.from(chunk));
    this.headBytes += chunk.length;
    const all = Buffer.concat(this.head);
    const end = findHeadEnd(all);
    if (end === undefined) {
      if (this.headBytes > MAX_HEAD_BYTES) throw new MalformedResponse('response headers exceed 64 KiB');
      this.head = [all];
      return {};
    }
    this.done = true;
    this.head = [];
    const head = parseHead(all.subarray(0, end.at).toString('latin1'));
    const rest = all.subarray(end.at + end.length);
    return { head, body: rest.length ? rest : undefined };
  }

  get complete(): boolean {
    return this.done;
  }
}

function findHeadEnd(buf: Buffer): { at: number; length: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf >= 0) return { at: lf, length: 2 };
  // A response with no headers at all starts with the blank line.
  if (buf[0] === 0x0a) return { at: 0, length: 1 };
  if (buf[0] === 0x0d && buf[1] === 0x0a) return { at: 0, length: 2 };
  return undefined;
}

function parseHead(text: string): ParsedHead {
  let status: number | undefined;
  const headers: [string, string][] = [];
  let location = false;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MalformedResponse('a header line has no name');
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value)) throw new MalformedResponse('invalid header');
    const lower = name.toLowerCase();
    if (lower === 'status') {
      const code = Number.parseInt(value, 10);
      if (!(code >= 100 && code <= 599)) throw new MalformedResponse('invalid Status header');
      status = code;
      continue;
    }
    if (isHopByHop(lower)) continue;
    if (lower === 'location') location = true;
    headers.push([name, value]);
  }
  return { status: status ?? (location ? 302 : 200), headers };
}
