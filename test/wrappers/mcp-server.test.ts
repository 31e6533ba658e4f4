import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { McpServerWrapper } from '../../src/wrappers/mcp/mcp-server-wrapper.ts';
import { InvalidArguments, InvalidModule } from '../../src/index.ts';

const SERVER = fileURLToPath(new URL('../../fixtures/mcp/mcp_server.wasm', import.meta.url));
const HELLO = fileURLToPath(new URL('../../fixtures/wasi/hello.wasm', import.meta.url));

function text(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

function auditCollector(): { stream: PassThrough; lines: Record<string, any>[] } {
  const stream = new PassThrough();
  const lines: Record<string, any>[] = [];
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const p of parts) if (p) lines.push(JSON.parse(p));
  });
  return { stream, lines };
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** The client side of the stdio transport over a pair of in-process streams. */
class StreamClientTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private readonly buffer = new ReadBuffer();
  private readonly incoming: PassThrough;
  private readonly outgoing: PassThrough;

  constructor(incoming: PassThrough, outgoing: PassThrough) {
    this.incoming = incoming;
    this.outgoing = outgoing;
  }

  async start(): Promise<void> {
    this.incoming.on('data', (chunk: Buffer) => {
      this.buffer.append(chunk);
      for (let m = this.buffer.readMessage(); m; m = this.buffer.readMessage()) this.onmessage?.(m);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.outgoing.write(serializeMessage(message));
  }

  async close(): Promise<void> {
    this.onclose?.();
  }
}

/** A box with a file inside, and a secret beside it that no tool may read. */
function makeTree(): { root: string; box: string } {
  const root = mkdtempSync(join(tmpdir(), 'mcp-test-'));
  const box = join(root, 'box');
  mkdirSync(box);
  writeFileSync(join(box, 'notes.txt'), 'inside the box\n');
  writeFileSync(join(root, 'secret.txt'), 'TOP SECRET\n');
  return { root, box };
}

describe('McpServerWrapper with a WASI MCP server over Streamable HTTP', () => {
  const audit = auditCollector();
  const wrapper = new McpServerWrapper({ auditLog: audit.stream });
  const tree = makeTree();
  let client: Client;
  let url: string;
  before(async () => {
    const id = await wrapper.startServer({
      path: SERVER,
      transport: { http: { host: '127.0.0.1', port: 0 } },
      capabilities: { filesystem: [{ hostPath: tree.box, guestPath: '/box', mode: 'read' }] },
      resourceLimits: { time: { callTimeoutMs: 2000 } },
      tools: { spin: { resourceLimits: { time: { callTimeoutMs: 300 } } } },
    });
    url = wrapper.address(id).url;
    client = await connect(url);
  });
  after(async () => {
    await client.close();
    await wrapper.close();
    rmSync(tree.root, { recursive: true, force: true });
  });

  test('initialize: the server offers tools and nothing else', () => {
    const caps = client.getServerCapabilities();
    assert.ok(caps?.tools);
    assert.equal(caps?.resources, undefined);
    assert.equal(caps?.prompts, undefined);
    assert.equal(client.getServerVersion()?.name, 'mcp_server');
  });

  test("tools/list is the guest's list, schemas included, and nothing added", async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['echo', 'add', 'read_file', 'spin']);
    assert.deepEqual(tools.find((t) => t.name === 'add')?.inputSchema, {
      type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'],
    });
  });

  test('tools/call: results come from the guest', async () => {
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'héllo "world" 😀\n' } }) as CallToolResult), 'héllo "world" 😀\n');
    const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } }) as CallToolResult;
    assert.equal(sum.isError, undefined);
    assert.equal(text(sum), '42');
    assert.equal(text(await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } }) as CallToolResult), 'inside the box\n');
  });

  test("the guest's own error results are forwarded as they are", async () => {
    const r = await client.callTool({ name: 'add', arguments: { a: 'two', b: 1 } }) as CallToolResult;
    assert.equal(r.isError, true);
    assert.equal(text(r), 'a and b must be numbers');
  });

  test('reading outside the preopen is refused, answered with an error result, and audited', async () => {
    for (const path of ['../secret.txt', '/etc/passwd', './../secret.txt']) {
      const before = audit.lines.length;
      const r = await client.callTool({ name: 'read_file', arguments: { path } }) as CallToolResult;
      assert.equal(r.isError, true, path);
      assert.match(text(r), /Operation not permitted/);
      assert.doesNotMatch(text(r), /SECRET|root:/);
      const entry = audit.lines.slice(before).find((l) => l.tool === 'read_file');
      assert.ok(entry, `audit entry for ${path}`);
      assert.equal(entry.outcome, 'tool-error');
      assert.equal(entry.deniedCapability, 'filesystem');
      assert.match(entry.denials[0].detail, /escapes preopen '\/box'/);
      const digest = createHash('sha256').update(JSON.stringify({ path })).digest('hex');
      assert.equal(entry.argsDigest, digest);
    }
  });

  test('a runaway tool is stopped at its deadline and the server keeps answering', async () => {
    const before = audit.lines.length;
    const started = performance.now();
    const [spin, echo] = await Promise.all([
      client.callTool({ name: 'spin', arguments: {} }) as Promise<CallToolResult>,
      // Started while the spin runs: the host's event loop is not blocked by a guest.
      new Promise((r) => setTimeout(r, 50)).then(() => client.callTool({ name: 'echo', arguments: { text: 'alive' } }) as Promise<CallToolResult>),
    ]);
    const elapsed = performance.now() - started;
    assert.equal(spin.isError, true);
    assert.equal(text(spin), 'The tool was stopped: it ran past its time limit.');
    assert.equal(text(echo), 'alive');
    // The per-tool override (300 ms) applies, not the server-wide 2 s.
    assert.ok(elapsed < 1500, `stopped after ${elapsed} ms`);
    const entry = audit.lines.slice(before).find((l) => l.tool === 'spin');
    assert.equal(entry?.outcome, 'timeout');
    assert.equal(entry?.error, 'TIMEOUT');
    assert.equal(text(await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } }) as CallToolResult), '2');
  });

  test('no tool can change grants: unknown tools are refused, extra arguments change nothing', async () => {
    const { tools } = await client.listTools();
    assert.ok(!tools.some((t) => /grant|permission|capabilit|policy/i.test(t.name)));
    for (const name of ['grant_permission', 'set_policy', '__proto__']) {
      const before = audit.lines.length;
      await assert.rejects(client.callTool({ name, arguments: {} }), (err: unknown) => err instanceof McpError && err.code === -32602);
      assert.equal(audit.lines.slice(before).find((l) => l.tool === name)?.outcome, 'unknown-tool');
    }
    const r = await client.callTool({
      name: 'read_file',
      arguments: { path: '../secret.txt', capabilities: { filesystem: [{ hostPath: '/', guestPath: '/', mode: 'read' }] } },
      _meta: { capabilities: { filesystem: [{ hostPath: '/', guestPath: '/', mode: 'read' }] } },
    }) as CallToolResult;
    assert.equal(r.isError, true);
    assert.doesNotMatch(text(r), /SECRET/);
  });

  test('the endpoint refuses other paths, methods, hosts and origins', async () => {
    const { port } = new URL(url);
    const status = (path: string, method: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, method, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(method === 'POST' ? JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) : undefined);
      });
    assert.equal(await status('/other', 'POST'), 404);
    assert.equal(await status('/mcp', 'GET'), 405);
    assert.equal(await status('/mcp', 'POST', { host: 'evil.example:80' }), 403);
    assert.equal(await status('/mcp', 'POST', { origin: 'https://evil.example' }), 403);
    assert.equal(await status('/mcp', 'POST', { origin: `http://localhost:${port}` }), 200);
  });

  test('a client that disconnects mid-call stops its guest (audited as cancelled)', async () => {
    const { port } = new URL(url);
    const before = audit.lines.length;
    const req = request({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } });
    req.on('error', () => {});
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'spin', arguments: {} } }));
    setTimeout(() => req.destroy(), 100);
    const started = performance.now();
    while (!audit.lines.slice(before).some((l) => l.tool === 'spin') && performance.now() - started < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(audit.lines.slice(before).find((l) => l.tool === 'spin')?.outcome, 'cancelled');
  });

  test('listServers reports the server', () => {
    const [s] = wrapper.listServers();
    assert.equal(s.kind, 'wasi');
    assert.equal(s.transport, 'http');
    assert.equal(s.url, url);
    assert.deepEqual(s.tools, ['echo', 'add', 'read_file', 'spin']);
    assert.ok(s.calls > 0);
  });
});

describe('McpServerWrapper on stdio streams', () => {
  test('a cancelled call stops its guest and is audited as cancelled; the server carries on', async () => {
    const audit = auditCollector();
    const wrapper = new McpServerWrapper({ auditLog: audit.stream });
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    try {
      await wrapper.startServer({ path: SERVER, transport: { stdio: { input: toServer, output: toClient } }, resourceLimits: { time: { callTimeoutMs: 20_000 } } });
      const client = new Client({ name: 'test', version: '1.0.0' });
      await client.connect(new StreamClientTransport(toClient, toServer));
      assert.equal(wrapper.listServers()[0].transport, 'stdio');
      const started = performance.now();
      await assert.rejects(client.callTool({ name: 'spin', arguments: {} }, undefined, { signal: AbortSignal.timeout(200) }));
      while (!audit.lines.some((l) => l.tool === 'spin') && performance.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
      assert.equal(audit.lines.find((l) => l.tool === 'spin')?.outcome, 'cancelled');
      assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'next' } }) as CallToolResult), 'next');
      assert.equal(wrapper.listServers()[0].inFlight, 0);
      assert.throws(() => wrapper.address(wrapper.listServers()[0].id), InvalidArguments);
      await client.close();
    } finally {
      await wrapper.close();
    }
  });
});

describe('McpServerWrapper: per-tool grants and configuration', () => {
  test('a tool override replaces the server-wide grant for that tool only', async () => {
    const tree = makeTree();
    const wrapper = new McpServerWrapper();
    try {
      // Server-wide: no files at all. read_file alone gets the box.
      const id = await wrapper.startServer({
        path: SERVER,
        transport: { http: {} },
        tools: { read_file: { capabilities: { filesystem: [{ hostPath: tree.box, guestPath: '/box', mode: 'read' }] } } },
      });
      const client = await connect(wrapper.address(id).url);
      assert.equal(text(await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } }) as CallToolResult), 'inside the box\n');
      await client.close();
      await wrapper.stopServer(id);
      // Without the override the same call has no directory to read from.
      const id2 = await wrapper.startServer({ path: SERVER, transport: { http: {} } });
      const client2 = await connect(wrapper.address(id2).url);
      const r = await client2.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } }) as CallToolResult;
      assert.equal(r.isError, true);
      assert.equal(text(r), 'no directory was granted');
      await client2.close();
    } finally {
      await wrapper.close();
      rmSync(tree.root, { recursive: true, force: true });
    }
  });

  test('limits apply per call: an output limit set for one tool stops it while the others run normally', async () => {
    const wrapper = new McpServerWrapper();
    try {
      const id = await wrapper.startServer({ path: SERVER, transport: { http: {} }, tools: { echo: { resourceLimits: { io: { maxOutputBytes: 200 } } } } });
      const client = await connect(wrapper.address(id).url);
      const big = await client.callTool({ name: 'echo', arguments: { text: 'x'.repeat(1000) } }) as CallToolResult;
      assert.equal(big.isError, true);
      assert.equal(text(big), 'The tool was stopped: it exceeded a resource limit.');
      assert.equal(text(await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }) as CallToolResult), '3');
      await client.close();
    } finally {
      await wrapper.close();
    }
  });

  test('startServer refuses bad configurations', async () => {
    const wrapper = new McpServerWrapper();
    try {
      await assert.rejects(wrapper.startServer({ path: SERVER, transport: { http: {} }, tools: { raed_file: { capabilities: {} } } }), (err: unknown) => err instanceof InvalidArguments && /no tool named 'raed_file'/.test(err.message));
      await assert.rejects(wrapper.startServer({ transport: { http: {} } }), InvalidArguments);
      await assert.rejects(wrapper.startServer({ path: SERVER, module: new Uint8Array(8), transport: { http: {} } }), InvalidArguments);
      await assert.rejects(wrapper.startServer({ path: SERVER, transport: { http: {} }, maxConcurrency: 0 }), InvalidArguments);
      await assert.rejects(wrapper.startServer({ path: SERVER, transport: 'tcp' as never }), InvalidArguments);
      // A WASI command that is not an MCP server never answers tools/list.
      await assert.rejects(wrapper.startServer({ path: HELLO, transport: { http: {} } }), /tools\/list/);
      assert.deepEqual(wrapper.listServers(), []);
      assert.throws(() => wrapper.address('mcp-99'), InvalidArguments);
    } finally {
      await wrapper.close();
    }
  });

  test('a core module passed as a component is refused', async () => {
    const wrapper = new McpServerWrapper();
    const { readFile } = await import('node:fs/promises');
    await assert.rejects(wrapper.startServer({ component: await readFile(SERVER), transport: { http: {} } }), InvalidModule);
    await wrapper.close();
  });
});
