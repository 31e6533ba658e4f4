import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { McpServerWrapper } from '../../src/wrappers/mcp/mcp-server-wrapper.ts';

const TYPES = fileURLToPath(new URL('../../fixtures/components/types.wasm', import.meta.url));
const LIMITS = fileURLToPath(new URL('../../fixtures/components/limits.wasm', import.meta.url));

function text(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

async function serve(wrapper: McpServerWrapper, path: string, extra: Parameters<McpServerWrapper['startServer']>[0] = {}): Promise<Client> {
  const id = await wrapper.startServer({ path, transport: { http: {} }, cacheDir: false, ...extra });
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(wrapper.address(id).url)));
  return client;
}

describe('McpServerWrapper with a component: every exported function is a tool', () => {
  const lines: Record<string, any>[] = [];
  const log = new PassThrough();
  log.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n').map((l) => JSON.parse(l))));
  const wrapper = new McpServerWrapper({ auditLog: log });
  let client: Client;
  let tools: Tool[];
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;
  before(async () => {
    client = await serve(wrapper, TYPES);
    tools = (await client.listTools()).tools;
  });
  after(async () => {
    await client.close();
    await wrapper.close();
  });

  test('tools: functions with JSON forms; resource functions are left out', () => {
    const names = tools.map((t) => t.name);
    assert.ok(names.includes('echo-person') && names.includes('echo-u64') && names.includes('echo-result'));
    assert.ok(!names.some((n) => /counter/.test(n)), names.join(','));
    assert.deepEqual(wrapper.listServers()[0].skipped.map((f) => f.function).sort(), [
      'example:types/types#[constructor]counter', 'example:types/types#[method]counter.get', 'example:types/types#[method]counter.inc',
      'example:types/types#counter-value', 'example:types/types#make-counter',
    ]);
    const person = tools.find((t) => t.name === 'echo-person')!;
    assert.match(person.description ?? '', /echo-person: func\(v: person\) -> person/);
    assert.deepEqual(person.inputSchema, {
      type: 'object',
      properties: {
        v: {
          title: 'person',
          type: 'object',
          properties: {
            name: { type: 'string' },
            age: { type: 'integer', minimum: 0, maximum: 255 },
            tags: { type: 'array', items: { type: 'string' } },
            email: { anyOf: [{ type: 'string' }, { type: 'null' }] },
          },
          required: ['name', 'age', 'tags'],
          additionalProperties: false,
        },
      },
      required: ['v'],
      additionalProperties: false,
    });
    assert.deepEqual(tools.find((t) => t.name === 'echo-color')!.inputSchema.properties, { v: { title: 'color', type: 'string', enum: ['red', 'green', 'blue'] } });
    assert.equal(tools.find((t) => t.name === 'echo-person')!.outputSchema?.type, 'object');
  });

  test('records, variants, enums, flags, options, lists, tuples and 64-bit integers round-trip', async () => {
    const cases: [string, unknown, unknown?][] = [
      ['echo-person', { name: 'Ada', age: 36, tags: ['math'], email: null }],
      ['echo-person', { name: 'Bob', age: 7, tags: [] }, { name: 'Bob', age: 7, tags: [], email: null }],
      ['echo-shape', { tag: 'rect', val: { x: 1, y: -2 } }],
      ['echo-shape', { tag: 'none' }],
      ['echo-color', 'green'],
      ['echo-perms', ['read', 'exec']],
      ['echo-option', null],
      ['echo-option', 'some'],
      ['echo-list', [1, 2, 3]],
      ['echo-bytes', [0, 255]],
      ['echo-tuple', [7, 'x', 1.5]],
      ['echo-u64', '18446744073709551615'],
      ['echo-s64', -5],
      ['echo-char', '😀'],
      ['echo-f64', 0.1],
    ];
    for (const [name, v, expected = v] of cases) {
      const r = await call(name, { v });
      assert.equal(r.isError, undefined, `${name}: ${text(r)}`);
      assert.deepEqual(r.structuredContent, { result: expected }, name);
      assert.equal(text(r), typeof expected === 'string' ? expected : JSON.stringify(expected));
    }
  });

  test('a WIT result error is an isError result carrying the error value', async () => {
    const ok = await call('echo-result', { v: { tag: 'ok', val: 3 } });
    assert.deepEqual(ok.structuredContent, { result: 3 });
    const err = await call('echo-result', { v: { tag: 'err', val: 'out of stock' } });
    assert.equal(err.isError, true);
    assert.equal(text(err), 'out of stock');
    assert.equal(lines.at(-1)?.outcome, 'tool-error');
  });

  test('arguments are validated against the schema before the guest runs', async () => {
    const bad: [string, Record<string, unknown>][] = [
      ['echo-u8', { v: 256 }],
      ['echo-u8', {}],
      ['echo-u8', { v: 1, extra: true }],
      ['echo-color', { v: 'purple' }],
      ['echo-person', { v: { name: 'x', age: 1, tags: [], nickname: 'y' } }],
      ['echo-shape', { v: { tag: 'circle' } }],
      ['echo-perms', { v: ['read', 'read'] }],
      ['echo-tuple', { v: [1, 'x'] }],
      ['echo-u64', { v: '18446744073709551616' }],
      ['echo-char', { v: 'ab' }],
    ];
    for (const [name, args] of bad) {
      const r = await call(name, args);
      assert.equal(r.isError, true, `${name} ${JSON.stringify(args)}`);
      assert.match(text(r), /^Invalid arguments: /);
      assert.equal(lines.at(-1)?.outcome, 'invalid-arguments');
    }
  });
});

describe('McpServerWrapper with a component: limits and failures per call', () => {
  const lines: Record<string, any>[] = [];
  const log = new PassThrough();
  log.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n').map((l) => JSON.parse(l))));
  const wrapper = new McpServerWrapper({ auditLog: log });
  let client: Client;
  const call = async (name: string, args: Record<string, unknown> = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult;
  before(async () => {
    client = await serve(wrapper, LIMITS, {
      resourceLimits: { time: { callTimeoutMs: 5000 } },
      tools: { spin: { resourceLimits: { time: { callTimeoutMs: 200 } } }, grow: { resourceLimits: { memory: { maxMemoryBytes: '1MiB', trapOnGrowFailure: true } } } },
    });
  });
  after(async () => {
    await client.close();
    await wrapper.close();
  });

  test('a spinning function is stopped at its own deadline; the next call works', async () => {
    const started = performance.now();
    const r = await call('spin');
    assert.ok(performance.now() - started < 2000);
    assert.equal(r.isError, true);
    assert.equal(text(r), 'The tool was stopped: it ran past its time limit.');
    assert.equal(lines.at(-1)?.outcome, 'timeout');
    assert.deepEqual((await call('add', { a: 2, b: 3 })).structuredContent, { result: 5 });
  });

  test('a trap is a short error result; details stay in the audit log', async () => {
    const r = await call('trap');
    assert.equal(r.isError, true);
    assert.equal(text(r), 'The tool crashed.');
    assert.match(lines.at(-1)?.error, /^TRAP/);
    const grown = await call('grow', { pages: 64 });
    assert.equal(grown.isError, true);
    assert.equal(text(grown), 'The tool was stopped: it exceeded a resource limit.');
    assert.equal(lines.at(-1)?.outcome, 'limit');
    assert.deepEqual((await call('count', { iterations: 10 })).structuredContent, { result: 10 });
  });
});

describe('McpServerWrapper with a component: refusals are audited', () => {
  test('a component command reading outside its preopen gets an error result and an audit entry naming the refusal', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const root = mkdtempSync(join(tmpdir(), 'mcp-fs-'));
    mkdirSync(join(root, 'box'));
    writeFileSync(join(root, 'secret.txt'), 'TOP SECRET\n');
    const lines: Record<string, any>[] = [];
    const log = new PassThrough();
    log.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n').map((l) => JSON.parse(l))));
    const wrapper = new McpServerWrapper({ auditLog: log });
    try {
      // fs-cli is a wasi:cli command: its one function, run, takes the operation from its arguments.
      const client = await serve(wrapper, fileURLToPath(new URL('../../fixtures/components/fs-cli.wasm', import.meta.url)), {
        // A JavaScript (StarlingMonkey) component reads the clock as it starts, and fs-cli exits on failure.
        capabilities: { args: ['cat', '/box/../secret.txt'], filesystem: [{ hostPath: join(root, 'box'), guestPath: '/box', mode: 'read' }], clock: 'real', exit: true },
      });
      const r = (await client.callTool({ name: 'run', arguments: {} })) as CallToolResult;
      assert.equal(r.isError, true);
      assert.doesNotMatch(text(r), /SECRET/);
      const entry = lines.find((l) => l.tool === 'run');
      assert.equal(entry?.deniedCapability, 'filesystem');
      assert.match(entry?.denials[0].detail, /escapes preopen '\/box'/);
      await client.close();
    } finally {
      await wrapper.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
