/**
 * The bound on one incoming MCP message, for both transports. A client (or anything that can write to
 * the server's stdin) could otherwise send one line of hundreds of megabytes: buffered whole, then
 * parsed, it grows the server by more than its size, and the SDK's own stdio reader gives up on the
 * stream entirely, ending the server without an answer. Here an oversized message is dropped as it
 * arrives (never held beyond the bound), answered with a JSON-RPC error, and the server keeps serving.
 */
import type { Readable, Writable } from 'node:stream';
import { checkJsonNesting, MalformedPayload } from '../../communication/structure-check.ts';

/** Bytes of one incoming message (a stdio line or an HTTP request body) unless configured otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

const INVALID_REQUEST = -32600;
const PARSE_ERROR = -32700;
/** How much of an oversized message is kept to find its id. */
const HEAD_BYTES = 4096;

export type JsonRpcId = string | number | null;

export function tooLargeMessage(limit: number): string {
  return `message too large: the server accepts messages of at most ${limit} bytes`;
}

/** A JSON-RPC error response for the request `id`. */
export function errorResponse(id: JsonRpcId, code: number, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } });
}

/**
 * The id of a request from the start of its text, without parsing the rest: the value of a
 * top-level `"id"` key when it is a number or a string and appears within `head`, else null (as
 * JSON-RPC answers a request whose id cannot be told).
 */
export function idFromHead(head: string): JsonRpcId {
  let depth = 0;
  for (let i = 0; i < head.length; i++) {
    const c = head[i];
    if (c === '"') {
      const end = stringEnd(head, i);
      if (end < 0) return null;
      if (depth === 1 && head.slice(i, end + 1) === '"id"') {
        const m = /^\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"(?:[^"\\]|\\.)*")/.exec(head.slice(end + 1));
        if (m) return m[1].startsWith('"') ? (JSON.parse(m[1]) as string) : Number(m[1]);
        return null;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
    }
  }
  return null;
}

/** Index of the quote closing the string that opens at `start`, or -1 when it does not close in `s`. */
function stringEnd(s: string, start: number): number {
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i;
  }
  return -1;
}

/**
 * Why `text` must not reach the protocol, as the JSON-RPC error to answer it with, or undefined when
 * it may: nested deeper than MAX_NESTING (JSON.parse would build all of it first).
 */
export function refusal(text: string): { code: number; message: string } | undefined {
  try {
    checkJsonNesting(text, () => {});
  } catch (err) {
    if (err instanceof MalformedPayload) return { code: PARSE_ERROR, message: `parse error: ${err.message}` };
    throw err;
  }
  return undefined;
}

/**
 * Splits `input` into lines of at most `limit` bytes: each such line goes to `accept`, each longer one
 * is dropped as it streams in and answered on `output` with an Invalid Request error naming the
 * limit. Memory held is bounded by `limit` whatever the client sends.
 */
export function boundedLines(input: Readable, output: Writable, limit: number, accept: (line: Buffer) => void): void {
  let parts: Buffer[] = [];
  let size = 0;
  let oversized = false;
  let head = Buffer.alloc(0);
  const endLine = (): void => {
    if (oversized) {
      output.write(errorResponse(idFromHead(head.toString('utf8')), INVALID_REQUEST, tooLargeMessage(limit)) + '\n');
    } else {
      const line = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
      if (line.length > 0) {
        const refused = refusal(line.toString('utf8'));
        if (refused) output.write(errorResponse(idFromHead(line.subarray(0, HEAD_BYTES).toString('utf8')), refused.code, refused.message) + '\n');
        else accept(line);
      }
    }
    parts = [];
    size = 0;
    oversized = false;
    head = Buffer.alloc(0);
  };
  input.on('data', (chunk: Buffer | string) => {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let off = 0;
    while (off <= data.length) {
      const nl = data.indexOf(10, off);
      const piece = data.subarray(off, nl === -1 ? data.length : nl);
      if (head.length < HEAD_BYTES) head = Buffer.concat([head, piece.subarray(0, HEAD_BYTES - head.length)]);
      if (!oversized) {
        if (size + piece.length > limit) {
          oversized = true;
          parts = [];
        } else if (piece.length > 0) {
          // Copied: the stream may reuse its chunk's memory.
          parts.push(Buffer.from(piece));
        }
      }
      size += piece.length;
      if (nl === -1) break;
      endLine();
      off = nl + 1;
    }
  });
}
