/**
 * One huge or deeply nested incoming message: answered with a JSON-RPC error, held in memory no
 * longer than the bound, and the server keeps serving, on stdio and on Streamable HTTP.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { PassThrough, type Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MAX_MESSAGE_BYTES, idFromHead } from '../../src/wrappers/mcp/message-limit.ts';
import { McpServerWrapper } from '../../src/wrappers/mcp/mcp-server-wrapper.ts';
import { InvalidArguments } from '../../src/index.ts';

const SERVER = fileURLToPath(new URL('../../fixtures/mcp/mcp_server.wasm', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const MiB = 1024 * 1024;

const listTools = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list', params: {} });

/** Writes a tools/list request whose params carry `size` bytes of padding, in 1 MiB chunks, with backpressure. */
async function writeHuge(out: Writable, id: number, size: number): Promise<void> {
  const write = (s: string | Buffer) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await write(`{"jsonrpc":"2.0","id":${id},"method":"tools/list","params":{"pad":"`);
  const chunk = Buffer.alloc(MiB, 0x61);
  for (let sent = 0; sent < size; sent += MiB) await write(chunk);
  await write('"}}\n');
}

/** Reads newline-delimited JSON responses from `stream` and resolves each by id. */
function responses(stream: NodeJS.ReadableStream): (id: number | null) => Promise<Record<string, any>> {
  const seen: Record<string, any>[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const line of lines) if (line.trim()) seen.push(JSON.parse(line));
    for (const w of waiters.splice(0)) w();
  });
  return async (id) => {
    for (;;) {
      const found = seen.find((m) => m.id === id);
      if (found) return found;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
}

describe('idFromHead', () => {
  test('finds a top-level id, not one nested in params', () => {
    assert.equal(idFromHead('{"jsonrpc":"2.0","id":7,"method":"x"'), 7);
    assert.equal(idFromHead('{"id" : "a\\"b","params":{'), 'a"b');
    assert.equal(idFromHead('{"params":{"id":3},"id":4,'), 4);
    assert.equal(idFromHead('{"params":{"id":3}, "method": "'), null);
    assert.equal(idFromHead('{"method":"x","params":"aaaa'), null);
  });
});

/** A wrapper serving the MCP fixture over a pair of streams, closed after `fn`. */
async function overStreams(
  fn: (s: { toServer: PassThrough; answer: ReturnType<typeof responses>; start(extra?: object): Promise<string> }) => Promise<void>,
): Promise<void> {
  const wrapper = new McpServerWrapper({ auditLog: false });
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const start = (extra: object = {}) => wrapper.startServer({ path: SERVER, transport: { stdio: { input: toServer, output: toClient } }, ...extra });
  try {
    await fn({ toServer, answer: responses(toClient), start });
  } finally {
    await wrapper.close();
  }
}

describe('MCP on stdio streams', () => {
  test('a 64 MiB line is answered with an error naming the bound, and the next request is served', async () => {
    await overStreams(async ({ toServer, answer, start }) => {
      await start();
      await writeHuge(toServer, 1, 64 * MiB);
      const refused = await answer(1);
      assert.equal(refused.error.code, -32600);
      assert.match(refused.error.message, new RegExp(`at most ${DEFAULT_MAX_MESSAGE_BYTES} bytes`));
      toServer.write(listTools(2) + '\n');
      const listed = await answer(2);
      assert.ok(Array.isArray(listed.result.tools), JSON.stringify(listed));

      // Nesting: refused before it is parsed, with its id.
      toServer.write(`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}\n`);
      assert.equal((await answer(3)).error.code, -32700);
      toServer.write(listTools(4) + '\n');
      assert.ok((await answer(4)).result);
    });
  });

  test('maxMessageBytes is configurable and checked', async () => {
    await overStreams(async ({ toServer, answer, start }) => {
      await assert.rejects(start({ maxMessageBytes: 0 }), InvalidArguments);
      await start({ maxMessageBytes: 100 });
      toServer.write(listTools(1).replace('{}', `{"pad":"${'x'.repeat(100)}"}`) + '\n');
      assert.match((await answer(1)).error.message, /at most 100 bytes/);
      toServer.write(listTools(2) + '\n');
      assert.ok((await answer(2)).result);
    });
  });
});

describe('MCP on Streamable HTTP', () => {
  test('an oversized body gets 413 with a JSON-RPC error, announced or streamed, and the server carries on', async () => {
    const wrapper = new McpServerWrapper({ auditLog: false });
    try {
      const id = await wrapper.startServer({ path: SERVER, transport: { http: { host: '127.0.0.1', port: 0 } } });
      const url = new URL(wrapper.address(id).url);
      const post = (send: (req: ReturnType<typeof request>) => Promise<void>, headers: Record<string, string | number> = {}) =>
        new Promise<{ status: number; body: any }>((resolve, reject) => {
          const req = request(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
          }, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
          });
          req.on('error', reject);
          void send(req).then(() => req.end());
        });
      const streamed = await post((req) => writeHuge(req, 9, 64 * MiB));
      assert.equal(streamed.status, 413);
      assert.equal(streamed.body.id, 9);
      assert.equal(streamed.body.error.code, -32600);
      const announced = await post(async () => {}, { 'content-length': 64 * MiB });
      assert.equal(announced.status, 413);
      const deep = await post(async (req) => void req.write(`{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`));
      assert.equal(deep.status, 400);
      assert.equal(deep.body.error.code, -32700);
      const init = await post(async (req) => void req.write(JSON.stringify({
        jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      })));
      assert.equal(init.status, 200);
      assert.equal(init.body.id, 1);
      assert.ok(init.body.result.serverInfo);
    } finally {
      await wrapper.close();
    }
  });
});

describe('wasm-sandbox mcp', () => {
  test('answers a 64 MiB line with an error and keeps serving until stdin ends', async () => {
    const child = spawn(process.execPath, [CLI, 'mcp', '--max-message-bytes', '1MiB', SERVER], { stdio: ['pipe', 'pipe', 'pipe'] });
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const answer = responses(child.stdout!);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    await writeHuge(child.stdin!, 1, 64 * MiB);
    const refused = await answer(1);
    assert.equal(refused.error.code, -32600);
    assert.match(refused.error.message, /at most 1048576 bytes/);
    child.stdin!.write(listTools(2) + '\n');
    assert.ok((await answer(2)).result, stderr);
    child.stdin!.end();
    assert.equal(await exited, 0, stderr);
    clearTimeout(guard);
  });
});
