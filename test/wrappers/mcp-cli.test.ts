import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SERVER = fileURLToPath(new URL('../../fixtures/mcp/mcp_server.wasm', import.meta.url));
const TYPES = fileURLToPath(new URL('../../fixtures/components/types.wasm', import.meta.url));

function text(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

function makeTree(): { root: string; box: string } {
  const root = mkdtempSync(join(tmpdir(), 'mcp-cli-'));
  const box = join(root, 'box');
  mkdirSync(box);
  writeFileSync(join(box, 'notes.txt'), 'inside the box\n');
  writeFileSync(join(root, 'secret.txt'), 'TOP SECRET\n');
  return { root, box };
}

/** The audit file's entries for `tool`, once there are at least `count` (the file is written asynchronously). */
async function auditFor(path: string, tool: string, count: number): Promise<Record<string, any>[]> {
  let entries: Record<string, any>[] = [];
  await until(() => {
    entries = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.tool === tool);
    return entries.length >= count;
  }, 5000);
  return entries;
}

describe('wasm-sandbox mcp over stdio, with the SDK client', () => {
  const tree = makeTree();
  const auditFile = join(tree.root, 'audit.jsonl');
  let client: Client;
  let transport: StdioClientTransport;
  let stderr = '';
  before(async () => {
    writeFileSync(join(tree.root, 'tools.yaml'), 'spin:\n  resourceLimits:\n    time: { callTimeoutMs: 300 }\nread_file:\n  capabilities:\n    filesystem: [{ hostPath: box, guestPath: /box, mode: read }]\n');
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [MAIN, 'mcp', SERVER, '--timeout', '5s', '--tools', join(tree.root, 'tools.yaml'), '--audit-log', auditFile],
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    client = new Client({ name: 'cli-test', version: '1.0.0' });
    await client.connect(transport);
  });
  after(async () => {
    await client.close();
    rmSync(tree.root, { recursive: true, force: true });
  });

  test('initialize, tools/list and tools/call', async () => {
    assert.ok(client.getServerCapabilities()?.tools);
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['echo', 'add', 'read_file', 'spin']);
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'over stdio' } }) as CallToolResult), 'over stdio');
    assert.equal(text(await client.callTool({ name: 'add', arguments: { a: 0.5, b: 0.25 } }) as CallToolResult), '0.75');
    assert.match(stderr, /MCP server for .*mcp_server\.wasm \(wasi, 4 tools: echo, add, read_file, spin\) on stdio/);
  });

  test('the --tools grant reaches read_file; leaving the preopen is refused and audited', async () => {
    assert.equal(text(await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } }) as CallToolResult), 'inside the box\n');
    const r = await client.callTool({ name: 'read_file', arguments: { path: '../secret.txt' } }) as CallToolResult;
    assert.equal(r.isError, true);
    assert.doesNotMatch(text(r), /SECRET/);
    const entry = (await auditFor(auditFile, 'read_file', 2)).at(-1);
    assert.equal(entry?.outcome, 'tool-error');
    assert.equal(entry?.deniedCapability, 'filesystem');
  });

  test('a runaway tool is stopped (its own 300 ms deadline) and the next call works', async () => {
    const started = performance.now();
    const r = await client.callTool({ name: 'spin', arguments: {} }) as CallToolResult;
    assert.ok(performance.now() - started < 3000);
    assert.equal(r.isError, true);
    assert.equal(text(r), 'The tool was stopped: it ran past its time limit.');
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'still here' } }) as CallToolResult), 'still here');
    assert.equal((await auditFor(auditFile, 'spin', 1)).at(-1)?.outcome, 'timeout');
  });
});

describe('wasm-sandbox mcp: stdout carries nothing but the protocol', () => {
  test('every stdout line is a JSON-RPC response, also around failures; the process ends with stdin', async () => {
    const tree = makeTree();
    const child = spawn(process.execPath, [MAIN, 'mcp', '--ro-dir', `${tree.box}::/box`, '--timeout', '300ms', SERVER], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const messages = [
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'spin', arguments: {} } },
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'read_file', arguments: { path: '/etc/passwd' } } },
      { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'missing', arguments: {} } },
      { jsonrpc: '2.0', id: 5, method: 'resources/list' },
    ];
    child.stdin.write(messages.map((m) => `${JSON.stringify(m)}\n`).join(''));
    await until(() => out.split('\n').filter(Boolean).length >= 5, 10_000);
    child.stdin.end();
    const code = await exited(child);
    const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.id).sort(), [1, 2, 3, 4, 5]);
    for (const l of lines) assert.equal(l.jsonrpc, '2.0');
    assert.equal(lines.find((l) => l.id === 2).result.isError, true);
    assert.equal(lines.find((l) => l.id === 4).error.code, -32602);
    assert.equal(lines.find((l) => l.id === 5).error.code, -32601);
    assert.equal(code, 0);
    // The audit log defaults to stderr, as JSON lines after the start-up line.
    const audit = err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    assert.deepEqual(audit.map((a) => a.outcome).sort(), ['timeout', 'tool-error', 'unknown-tool']);
    rmSync(tree.root, { recursive: true, force: true });
  });

  test('usage errors are reported on stderr with status 2', async () => {
    const child = spawn(process.execPath, [MAIN, 'mcp', SERVER, '--http', 'nowhere'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    assert.equal(await exited(child), 2);
    assert.equal(out, '');
    assert.match(err, /--http nowhere: expected HOST:PORT/);
  });
});

describe('wasm-sandbox mcp --http, with the SDK client', () => {
  let child: ChildProcess;
  let url: string;
  const cacheDir = mkdtempSync(join(tmpdir(), 'mcp-cache-'));
  before(async () => {
    child = spawn(process.execPath, [MAIN, 'mcp', TYPES, '--http', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WASM_SANDBOX_CACHE_DIR: cacheDir } });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await until(() => /on (http:\/\/\S+)/.test(err), 30_000);
    url = /on (http:\/\/\S+)/.exec(err)![1];
  });
  after(async () => {
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
    rmSync(cacheDir, { recursive: true, force: true });
  });

  test('a component served over Streamable HTTP', async () => {
    const client = new Client({ name: 'http-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'echo-shape'));
    const r = await client.callTool({ name: 'echo-shape', arguments: { v: { tag: 'circle', val: 2.5 } } }) as CallToolResult;
    assert.deepEqual(r.structuredContent, { result: { tag: 'circle', val: 2.5 } });
    await client.close();
  });
});

function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out waiting'));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
