import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { InvalidArguments } from '../../errors.ts';
import { isLoopback } from '../../host/addresses.ts';
import { createMcpServer, type ToolHandlers } from './mcp-protocol.ts';
import { errorResponse, idFromHead, refusal, tooLargeMessage, type JsonRpcId } from './message-limit.ts';

/** The host name of a Host header or an Origin, without port or brackets. */
function hostName(value: string): string | undefined {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

function reject(res: ServerResponse, status: number, message: string, extra: Record<string, string> = {}, id: JsonRpcId = null, code = -32000): void {
  res.writeHead(status, { 'content-type': 'application/json', ...extra });
  res.end(errorResponse(id, code, message));
}

/**
 * The request body, or `tooLarge` (with its first bytes, to answer the right id) when more than
 * `limit` bytes are announced or arrive. Past the limit the rest is read and dropped, so memory stays
 * bounded and the client, done sending, reads the answer; an announced excess is answered at once.
 */
function readBody(req: IncomingMessage, limit: number): Promise<{ text: string } | { tooLarge: string; drained: boolean }> {
  if (Number(req.headers['content-length']) > limit) return Promise.resolve({ tooLarge: '', drained: false });
  return new Promise((resolve, fail) => {
    let parts: Buffer[] = [];
    let size = 0;
    let head: string | undefined;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (head !== undefined) return;
      if (size > limit) {
        head = Buffer.concat(parts).subarray(0, 4096).toString('utf8');
        parts = [];
      } else {
        parts.push(chunk);
      }
    });
    req.once('end', () => resolve(head === undefined ? { text: Buffer.concat(parts, size).toString('utf8') } : { tooLarge: head, drained: true }));
    req.once('error', fail);
  });
}

/**
 * Streamable HTTP on a node:http server, stateless: every POST gets its own SDK Server and transport,
 * so no session state accumulates and one client's requests cannot reach another's. Responses are
 * plain JSON (no SSE stream), which every Streamable HTTP client accepts.
 *
 * Bound to a loopback address, the server only answers requests whose Host header names loopback; bound
 * anywhere, it refuses an Origin that is neither loopback nor its own host. So a web page cannot reach
 * it through DNS rebinding or a cross-site request.
 */
export async function listenHttp(options: { host: string; port: number; path: string; handlers: ToolHandlers; maxMessageBytes: number }): Promise<HttpServer> {
  const loopbackOnly = isLoopback(options.host);
  const http = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    if (url.split('?')[0] !== options.path) return reject(res, 404, `not found; the MCP endpoint is ${options.path}`);
    const host = hostName(req.headers.host ?? '');
    if (loopbackOnly && (host === undefined || !isLoopback(host))) return reject(res, 403, 'forbidden host');
    if (req.headers.origin !== undefined) {
      const origin = hostName(req.headers.origin);
      if (origin === undefined || (!isLoopback(origin) && origin !== host)) return reject(res, 403, 'forbidden origin');
    }
    if (req.method !== 'POST') return reject(res, 405, 'method not allowed: this server is stateless and takes POST only', { allow: 'POST' });
    // The body is read and parsed here, within the bound, and handed to the SDK already parsed.
    let body: Awaited<ReturnType<typeof readBody>>;
    try {
      body = await readBody(req, options.maxMessageBytes);
    } catch {
      return void res.destroy();
    }
    if ('tooLarge' in body) {
      return reject(res, 413, tooLargeMessage(options.maxMessageBytes), body.drained ? {} : { connection: 'close' }, idFromHead(body.tooLarge), -32600);
    }
    const refused = refusal(body.text);
    if (refused) return reject(res, 400, refused.message, {}, idFromHead(body.text.slice(0, 4096)), refused.code);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.text);
    } catch {
      return reject(res, 400, 'parse error: the body is not JSON', {}, null, -32700);
    }
    const server = createMcpServer(options.handlers);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => void server.close().catch(() => {}));
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, parsed);
    } catch {
      if (!res.headersSent) reject(res, 500, 'internal error');
      else res.destroy();
    }
  }
  await new Promise<void>((resolve, fail) => {
    http.once('error', fail);
    http.listen(options.port, options.host, () => {
      http.off('error', fail);
      resolve();
    });
  }).catch((err: Error) => {
    throw new InvalidArguments(`cannot listen on ${options.host}:${options.port}: ${err.message}`);
  });
  return http;
}
