import type { Readable, Writable } from 'node:stream';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';

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

export async function serveStdio(h: ToolHandlers, input?: Readable, output?: Writable): Promise<Server> {
  const server = createMcpServer(h);
  await server.connect(new StdioServerTransport(input, output));
  return server;
}
