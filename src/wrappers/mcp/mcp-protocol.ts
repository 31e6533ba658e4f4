import { PassThrough, type Readable, type Writable } from 'node:stream';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { boundedLines } from './message-limit.ts';

export interface ToolHandlers {
  name: string;
  version: string;
  tools(): readonly Tool[];
  /** Resolves undefined for a tool that does not exist. */
  call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<CallToolResult | undefined>;
}

/** An SDK server offering tools/list and tools/call from `h`, and nothing else. */
export function createMcpServer(h: ToolHandlers): Server {
  const server = new Server({ name: h.name, version: h.version }, { capabilities: { tools: { listChanged: false } } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...h.tools()] }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const result = await h.call(req.params.name, req.params.arguments ?? {}, extra.signal);
    if (result === undefined) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
    return result;
  });
  return server;
}

/**
 * Serves `h` on `input`/`output` (default the process's stdin/stdout). Messages over `maxMessageBytes`
 * never reach the SDK, which would give up on the whole stream: they are answered with an error here
 * (message-limit.ts) and the server keeps serving.
 */
export async function serveStdio(h: ToolHandlers, maxMessageBytes: number, input: Readable = process.stdin, output: Writable = process.stdout): Promise<Server> {
  const server = createMcpServer(h);
  const lines = new PassThrough();
  boundedLines(input, output, maxMessageBytes, (line) => lines.write(Buffer.concat([line, NEWLINE])));
  input.once('end', () => lines.end());
  // One line at a time reaches the SDK's buffer, so its own bound only needs room for one.
  await server.connect(new StdioServerTransport(lines, output, { maxBufferSize: maxMessageBytes + 2 }));
  return server;
}

const NEWLINE = Buffer.from('\n');
