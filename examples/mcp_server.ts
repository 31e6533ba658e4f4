// Serves a sandboxed MCP server (a C program compiled to WASI) the way an MCP host would see it:
// spawns `wasm-sandbox mcp` on stdio, connects the official SDK client, lists and calls tools,
// including one that reads outside its directory and one that never returns. Then serves a
// component's functions as tools over Streamable HTTP, in process.
// Run with `node examples/mcp_server.ts`; the audit log is printed on stderr.
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { McpServerWrapper } from '../src/index.ts';

const file = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const show = (r: unknown) => {
  const { content, isError, structuredContent } = r as CallToolResult;
  const text = content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('');
  return `${isError ? 'ERROR ' : ''}${JSON.stringify(structuredContent?.result ?? text)}`;
};

// 1. A WASI MCP server on stdio, as an MCP host (an editor, an agent) would launch it.
const stdio = new StdioClientTransport({
  command: process.execPath,
  args: [file('../src/cli/main.ts'), 'mcp', '--ro-dir', `${file('data')}::/data`, '--timeout', '1s', file('../fixtures/mcp/mcp_server.wasm')],
  stderr: 'inherit',
});
const client = new Client({ name: 'example', version: '1.0.0' });
await client.connect(stdio);
console.log('tools:', (await client.listTools()).tools.map((t) => t.name).join(', '));
console.log('echo      →', show(await client.callTool({ name: 'echo', arguments: { text: 'hello from the sandbox' } })));
console.log('add       →', show(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } })));
console.log('read_file →', show(await client.callTool({ name: 'read_file', arguments: { path: 'hello.txt' } })));
console.log('read_file →', show(await client.callTool({ name: 'read_file', arguments: { path: '../../package.json' } })));
console.log('spin      →', show(await client.callTool({ name: 'spin', arguments: {} })));
console.log('echo      →', show(await client.callTool({ name: 'echo', arguments: { text: 'still answering' } })));
await client.close();

// 2. A component's exported functions as tools, over Streamable HTTP.
const wrapper = new McpServerWrapper({ auditLog: process.stderr });
const id = await wrapper.startServer({
  path: file('../fixtures/components/types.wasm'),
  transport: { http: { host: '127.0.0.1', port: 0 } },
  resourceLimits: { time: { callTimeoutMs: 500 } },
});
const http = new Client({ name: 'example', version: '1.0.0' });
await http.connect(new StreamableHTTPClientTransport(new URL(wrapper.address(id).url)));
const person = (await http.listTools()).tools.find((t) => t.name === 'echo-person')!;
console.log(`${person.name}: ${person.description}\n  input schema: ${JSON.stringify(person.inputSchema)}`);
console.log('echo-person →', show(await http.callTool({ name: 'echo-person', arguments: { v: { name: 'Ada', age: 36, tags: ['math'] } } })));
console.log('echo-shape  →', show(await http.callTool({ name: 'echo-shape', arguments: { v: { tag: 'rect', val: { x: 1, y: 2 } } } })));
console.log('echo-result →', show(await http.callTool({ name: 'echo-result', arguments: { v: { tag: 'err', val: 'no such thing' } } })));
console.log('echo-u8     →', show(await http.callTool({ name: 'echo-u8', arguments: { v: 300 } })));
await http.close();
await wrapper.close();
