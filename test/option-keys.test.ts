/**
 * A misspelt option is an InvalidArguments naming it, wherever the public API takes an options
 * object, before anything is loaded, started or read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  CliWrapper, ComponentRuntime, HttpServerWrapper, InvalidArguments, McpServerWrapper, WasmSandbox, type ComponentModule,
} from '../src/index.ts';

const add = readFileSync(new URL('../fixtures/wat/add.wasm', import.meta.url));

async function rejectsKey(what: string, key: string, fn: () => unknown): Promise<void> {
  await assert.rejects(async () => fn(), (err: unknown) => {
    assert.ok(err instanceof InvalidArguments, `${what}: ${String(err)}`);
    assert.match(err.message, new RegExp(`unknown key '${key}'`), what);
    return true;
  });
}

test('WasmSandbox.create and createInstance', async () => {
  await rejectsKey('create', 'runtme', () => WasmSandbox.create({ runtme: 'worker' } as never));
  const sandbox = await WasmSandbox.create();
  const id = await sandbox.loadModule(add);
  await rejectsKey('createInstance', 'capabilites', () => sandbox.createInstance(id, { capabilites: {} } as never));
  // Correct keys still pass.
  assert.equal(await sandbox.callFunction(await sandbox.createInstance(id, { capabilities: {} }), 'add', [1, 2]), 3);
  await sandbox.close();
});

test('CliWrapper', async () => {
  await rejectsKey('CliWrapper', 'runtme', () => new CliWrapper({ runtme: 'worker' } as never));
  const wrapper = new CliWrapper();
  await rejectsKey('runCliApp', 'argv', () => wrapper.runCliApp({ bytes: add, argv: ['x'] } as never));
  await rejectsKey('runCliAppStreaming', 'stdinn', () => wrapper.runCliAppStreaming({ bytes: add, stdinn: 'x' } as never).result);
  await wrapper.close();
});

test('HttpServerWrapper', async () => {
  await rejectsKey('HttpServerWrapper', 'accesslog', () => new HttpServerWrapper({ accesslog: false } as never));
  const http = new HttpServerWrapper({ accessLog: false });
  await rejectsKey('startServer', 'port', () => http.startServer({ module: add, port: 8080 } as never));
  await rejectsKey('startServer pool', 'maxInstance', () => http.startServer({ module: add, pool: { maxInstance: 2 } } as never));
});

test('McpServerWrapper', async () => {
  await rejectsKey('McpServerWrapper', 'audit', () => new McpServerWrapper({ audit: false } as never));
  const mcp = new McpServerWrapper({ auditLog: false });
  await rejectsKey('startServer', 'transprt', () => mcp.startServer({ module: add, transprt: 'stdio' } as never));
});

test('ComponentRuntime.create and instantiate', async () => {
  await rejectsKey('ComponentRuntime.create', 'cachedir', () => ComponentRuntime.create(undefined, undefined, { cachedir: false } as never));
  const runtime = await ComponentRuntime.create(undefined, undefined, { cacheDir: false });
  await rejectsKey('instantiate', 'import', () => runtime.instantiate({} as ComponentModule, { import: {} } as never));
  await runtime.close();
});
