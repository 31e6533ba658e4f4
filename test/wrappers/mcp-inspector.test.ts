// The official MCP Inspector's command-line mode, as a client independent of our own tests' SDK use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const INSPECTOR = fileURLToPath(new URL('../../node_modules/@modelcontextprotocol/inspector/cli/build/cli.js', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SERVER = fileURLToPath(new URL('../../fixtures/mcp/mcp_server.wasm', import.meta.url));

function inspector(...args: string[]): unknown {
  const r = spawnSync(process.execPath, [INSPECTOR, '--cli', process.execPath, CLI, 'mcp', SERVER, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('the MCP Inspector CLI lists the sandboxed server\'s tools', () => {
  const listed = inspector('--method', 'tools/list') as { tools: { name: string; inputSchema: { type: string } }[] };
  assert.deepEqual(listed.tools.map((t) => t.name).sort(), ['add', 'echo', 'read_file', 'spin']);
  assert.ok(listed.tools.every((t) => t.inputSchema.type === 'object'));
});

test('the MCP Inspector CLI calls a tool through the sandbox', () => {
  const result = inspector('--method', 'tools/call', '--tool-name', 'add', '--tool-arg', 'a=2', '--tool-arg', 'b=3') as { content: { type: string; text: string }[] };
  assert.deepEqual(result.content, [{ type: 'text', text: '5' }]);
});
