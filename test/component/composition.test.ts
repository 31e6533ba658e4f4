import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Capabilities, InvalidArguments, MissingImports, SecurityViolation, Trap } from '../../src/index.ts';
import { load, runtime as anyRuntime } from './helpers.ts';

// What an embedder supplies to a component is a host function grant, as for core modules.
const KV = Capabilities.minimal().withHostFunctions('example:kv/store.*');
const runtime = () => anyRuntime(KV);

test("one component's exports satisfy another's imports", async () => {
  const rt = await runtime();
  const store = await rt.instantiate(await load('kv-provider'));
  const app = await rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': store } });
  assert.equal(await app.call('example:kv/app#run', ['colour', 'blue']), 'blue');
  assert.equal(await store.call('example:kv/store#get', ['colour']), 'blue', 'the write went to the provider instance');
  assert.equal(await app.call('example:kv/app#run', ['colour', 'red']), 'red');
  const second = await rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': store } });
  assert.equal(await second.call('example:kv/app#run', ['size', 'L']), 'L');
  assert.equal(await app.call('example:kv/app#run', ['colour', 'green']), 'green', 'both consumers share one store');
  assert.equal(await store.call('example:kv/store#get', ['size']), 'L');
});

test('plain JavaScript can provide the same interface', async () => {
  const rt = await runtime();
  const map = new Map<string, string>();
  const app = await rt.instantiate(await load('kv-consumer'), {
    imports: { 'example:kv/store': { get: (k: string) => map.get(k), set: (k: string, v: string) => void map.set(k, v.toUpperCase()) } },
  });
  assert.equal(await app.call('example:kv/app#run', ['k', 'value']), 'VALUE');
  assert.equal(map.get('k'), 'VALUE');
});

test('a trap in the provider surfaces as a Trap of the caller', async () => {
  const rt = await runtime();
  const store = await rt.instantiate(await load('kv-provider'));
  const app = await rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': store } });
  for (let i = 0; i < 16; i++) await store.call('example:kv/store#set', [`k${i}`, 'x']);
  await assert.rejects(app.call('example:kv/app#run', ['one-too-many', 'x']), Trap);
  assert.equal(store.usable, false);
  assert.equal(app.usable, false);
});

test('imports nothing provides are MissingImports, listing every one', async () => {
  const rt = await runtime();
  await assert.rejects(rt.instantiate(await load('kv-consumer')), (err: unknown) => {
    assert.ok(err instanceof MissingImports);
    assert.deepEqual(err.missing.map((m) => `${m.module}.${m.name}`).sort(), ['example:kv/store.get', 'example:kv/store.set']);
    return true;
  });
  await assert.rejects(rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': { get: () => undefined } } }), (err: unknown) => {
    assert.ok(err instanceof MissingImports);
    assert.deepEqual(err.missing.map((m) => m.name), ['set']);
    return true;
  });
});

test('a provider whose types do not match is refused before anything runs', async () => {
  const rt = await runtime();
  const greeter = await rt.instantiate(await load('greeter'));
  await assert.rejects(rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': greeter } }), (err: unknown) => {
    assert.ok(err instanceof InvalidArguments);
    assert.match(err.message, /does not export 'example:kv\/store'/);
    return true;
  });
  // The consumer itself exports example:kv/app, whose `run` is not the store's `get`/`set`.
  const consumerOfJs = await rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': { get: () => undefined, set: () => {} } } });
  await assert.rejects(rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': consumerOfJs } }), InvalidArguments);
});

test('a provider exporting the interface with different types is refused, naming the difference', async () => {
  const { parse, componentEmbed, componentNew } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  // The same interface name, but `get` returns a plain string instead of option<string>.
  const wit = `package example:kv;
interface store {
  get: func(key: string) -> string;
  set: func(key: string, value: string);
}
world provider { export store; }`;
  const core = await parse(`(module
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
    (func (export "example:kv/store#get") (param i32 i32) (result i32) (i32.const 0))
    (func (export "example:kv/store#set") (param i32 i32 i32 i32)))`);
  const bytes = await componentNew(await componentEmbed({ binary: core, witSource: wit, world: 'provider' }), []);
  const rt = await anyRuntime(KV, {}, { cacheDir: false });
  const wrong = await rt.instantiate(await rt.createComponentModule(bytes));
  await assert.rejects(rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': wrong } }), (err: unknown) => {
    assert.ok(err instanceof InvalidArguments);
    assert.match(err.message, /function 'get' does not match: result: option vs string/);
    return true;
  });
});

test('imports the embedder supplies need a host function grant, decided like a core module\'s', async () => {
  const rt = await anyRuntime();
  const js = { get: () => undefined, set: () => {} };
  await assert.rejects(rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': js } }), (err: unknown) => {
    assert.ok(err instanceof SecurityViolation);
    assert.equal(err.capability, 'hostFunctions');
    assert.match(err.detail, /example:kv\/store\.get/);
    return true;
  });
  const store = await rt.instantiate(await load('kv-provider'));
  await assert.rejects(rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': store } }), SecurityViolation, 'another component is no exception');
  const one = Capabilities.minimal().withHostFunctions('example:kv/store.get');
  await assert.rejects(rt.instantiate(await load('kv-consumer'), { capabilities: one, imports: { 'example:kv/store': js } }), /example:kv\/store\.set/, 'every function is checked');
  const both = Capabilities.minimal().withHostFunctions('example:kv/store.get', 'example:kv/store.set');
  const app = await rt.instantiate(await load('kv-consumer'), { capabilities: both, imports: { 'example:kv/store': js } });
  assert.equal(app.usable, true);
});

test('a function the world imports directly is granted as $root.name (instantiation is checked)', async () => {
  const { parse, componentEmbed, componentNew } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  const wit = `package example:root;
world w {
  import double: func(x: u32) -> u32;
  export run: func(x: u32) -> u32;
}`;
  const core = await parse(`(module
    (import "$root" "double" (func $double (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "run") (param i32) (result i32) (call $double (local.get 0))))`);
  const rt = await anyRuntime({}, {}, { cacheDir: false });
  const component = await rt.createComponentModule(await componentNew(await componentEmbed({ binary: core, witSource: wit, world: 'w' }), []));
  const imports = { double: (x: number) => x * 2 };
  await assert.rejects(rt.instantiate(component, { imports }), (e: unknown) => e instanceof SecurityViolation && /'\$root\.double'/.test(e.detail));
  const app = await rt.instantiate(component, { imports, capabilities: Capabilities.minimal().withHostFunctions('$root.double') });
  assert.equal(app.usable, true);
});
