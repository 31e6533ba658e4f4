import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { InvalidArguments } from '../../errors.ts';
import { isLoopback } from '../../host/addresses.ts';
import { createMcpServer, type ToolHandlers } from './mcp-protocol.ts';

/** The host name of a Host header or an Origin, without port or brackets. */
function hostName(value: string): string | undefined {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

function reject(res: ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...extra });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
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
export async function listenHttp(options: { host: string; port: number; path: string; handlers: ToolHandlers }): Promise<HttpServer> {
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
    const server = createMcpServer(options.handlers);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => void server.close().catch(() => {}));
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res);
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
