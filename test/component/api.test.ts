import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  Capabilities, ComponentRuntime, ComponentModule, ComponentInstance, FunctionNotFound, InvalidArguments, InvalidModule,
  ModuleNotFound, ResourceLimits, SandboxClosed, WasmSandbox,
} from '../../src/index.ts';
import { CACHE_DIR, fixturePath, load, runtime } from './helpers.ts';

test('the issue example: create, load from file, instantiate, call by WIT path', async () => {
  const rt = await ComponentRuntime.create(Capabilities.minimal(), ResourceLimits.default(), { cacheDir: CACHE_DIR });
  const component = await rt.createComponentModuleFromFile(fixturePath('greeter'));
  assert.ok(component instanceof ComponentModule);
  const instance = await rt.instantiate(component, { capabilities: Capabilities.minimal(), resourceLimits: ResourceLimits.default(), imports: {} });
  assert.ok(instance instanceof ComponentInstance);
  assert.equal(await instance.call('example:greeter/greet#hello', ['World']), 'Hello, World!');
  rt.close();
});

test('createComponentModule takes bytes; the module reports its hash, size, imports and exports', async () => {
  const rt = await runtime();
  const bytes = readFileSync(fixturePath('greeter'));
  const component = await rt.createComponentModule(bytes);
  assert.match(component.hash, /^[0-9a-f]{64}$/);
  assert.equal(component.size, bytes.length);
  assert.deepEqual(component.exportNames, ['example:greeter/greet']);
  assert.deepEqual(component.importNames, []);
  const again = await rt.createComponentModule(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  assert.equal(again.hash, component.hash);
});

test('the exports proxy calls through the same checked path, by WIT or camelCase name', async () => {
  const rt = await runtime();
  const greeter = await rt.instantiate(await load('greeter'));
  const greet = greeter.exports['example:greeter/greet'];
  assert.equal(await greet.hello('proxy'), 'Hello, proxy!');
  await assert.rejects(greet.hello(42), InvalidArguments);
  const limits = await rt.instantiate(await load('limits'));
  assert.equal(await limits.exports.add(20, 22), 42);
  assert.equal(await limits.call('add', [1, 2]), 3, 'root-level functions are called by bare name');
});

test('an unknown function or interface is FunctionNotFound listing what exists', async () => {
  const rt = await runtime();
  const greeter = await rt.instantiate(await load('greeter'));
  for (const path of ['example:greeter/greet#goodbye', 'example:other/greet#hello', 'hello', '']) {
    await assert.rejects(greeter.call(path, ['x']), (err: unknown) => {
      assert.ok(err instanceof FunctionNotFound);
      assert.deepEqual(err.available, ['example:greeter/greet#hello']);
      return true;
    });
  }
});

test('an interface version in the path is optional', async () => {
  const rt = await runtime();
  const cli = await load('fs-cli');
  assert.ok(cli.exportNames.some((n) => n.startsWith('wasi:cli/run@')));
  const instance = await rt.instantiate(cli, { capabilities: Capabilities.captured().withArgs(['args']) });
  assert.deepEqual(await instance.call('wasi:cli/run#run'), { tag: 'ok', val: undefined });
  assert.deepEqual(await instance.call(`${cli.exportNames[0]}#run`), { tag: 'ok', val: undefined });
});

test('a core module is not a component: InvalidModule; and WasmSandbox refuses components', async () => {
  const rt = await runtime();
  const core = readFileSync(new URL('../../fixtures/wat/add.wasm', import.meta.url));
  await assert.rejects(rt.createComponentModule(core), (err: unknown) => err instanceof InvalidModule && /core WebAssembly module/.test(err.message));
  await assert.rejects(rt.createComponentModule(new Uint8Array([1, 2, 3])), InvalidModule);
  await assert.rejects(rt.createComponentModuleFromFile('/nonexistent/component.wasm'), ModuleNotFound);
  const sandbox = await WasmSandbox.create();
  try {
    await assert.rejects(sandbox.loadModule(readFileSync(fixturePath('greeter'))), (err: unknown) => err instanceof InvalidModule && /ComponentRuntime/.test(err.message));
  } finally {
    await sandbox.close();
  }
});

test('a truncated component is an InvalidModule, not a crash', async () => {
  const rt = await runtime({}, {}, { cacheDir: false });
  const bytes = readFileSync(fixturePath('types'));
  for (const cut of [9, 40, 200, bytes.length - 3]) {
    await assert.rejects(rt.createComponentModule(bytes.subarray(0, cut)), InvalidModule, `cut at ${cut}`);
  }
});

test('a closed runtime refuses work; closing closes its instances', async () => {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('greeter'));
  rt.close();
  assert.equal(instance.usable, false);
  await assert.rejects(rt.createComponentModuleFromFile(fixturePath('greeter')), SandboxClosed);
  await assert.rejects(rt.instantiate(await load('greeter')), SandboxClosed);
});

test('a versioned interface answers to both spellings, in exports and in call()', async () => {
  const rt = await runtime();
  // A JavaScript (StarlingMonkey) component reads the clock as it starts: it needs the grant.
  const instance = await rt.instantiate(await load('records-js'), { capabilities: Capabilities.minimal().with({ clock: 'real' }) });
  const exports = instance.exports as Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>>;
  assert.ok(exports['example:records-js/api@0.1.0']);
  assert.equal(exports['example:records-js/api'], exports['example:records-js/api@0.1.0']);
  const expected = { tag: 'ok', val: 42n };
  assert.deepEqual(await exports['example:records-js/api'].parseU64('42'), expected);
  assert.deepEqual(await exports['example:records-js/api@0.1.0']['parse-u64']('42'), expected);
  assert.deepEqual(await instance.call('example:records-js/api#parse-u64', ['42']), expected);
  assert.deepEqual(await instance.call('example:records-js/api@0.1.0#parse-u64', ['42']), expected);
  rt.close();
});
