/**
 * The direct call path (our own Canonical ABI into the core function) against jco's bindings: both
 * must return identical values for every type, and a guest handing back malformed values must trap
 * either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Capabilities, Trap } from '../../src/index.ts';
import { fixturePath, load, runtime } from './helpers.ts';

const T = 'example:types/types#';

const VALUES: Record<string, unknown[]> = {
  'echo-bool': [true, false],
  'echo-s8': [-128, 0, 127],
  'echo-u8': [0, 255],
  'echo-s16': [-32768, 32767],
  'echo-u16': [0, 65535],
  'echo-s32': [-2147483648, 2147483647],
  'echo-u32': [0, 4294967295, 2147483648],
  'echo-s64': [-(2n ** 63n), 0n, 2n ** 63n - 1n],
  'echo-u64': [0n, 2n ** 64n - 1n, 2n ** 63n],
  'echo-f32': [0, -1.5, Math.fround(3.14), Infinity],
  'echo-f64': [0, -0, Math.PI, -Infinity, Number.MAX_VALUE],
  'echo-char': ['a', 'é', '€', '🦀', '\u{10FFFF}'],
  'echo-string': ['', 'ascii', 'ünïcödé', '🦀'.repeat(100), 'x'.repeat(70_000)],
  'echo-point': [{ x: 0, y: 0 }, { x: -5, y: 2147483647 }],
  'echo-person': [
    { name: 'Ann', age: 30, tags: ['a', 'b'], email: 'ann@example.com' },
    { name: '', age: 255, tags: [], email: undefined },
  ],
  'echo-shape': [{ tag: 'circle', val: 2.5 }, { tag: 'circle', val: -0.1 }, { tag: 'rect', val: { x: -3, y: 4 } }, { tag: 'none' }],
  'echo-color': ['red', 'green', 'blue'],
  'echo-perms': [{}, { read: true }, { read: true, write: true, exec: true }],
  'echo-option': [undefined, '', 'x'],
  'echo-result': [{ tag: 'ok', val: 0 }, { tag: 'ok', val: 4294967295 }, { tag: 'err', val: '' }, { tag: 'err', val: 'bad' }],
  'echo-list': [[], [1, 2, 3], new Uint32Array([7, 8])],
  'echo-bytes': [new Uint8Array(0), new Uint8Array([0, 128, 255]), [1, 2]],
  'echo-strings': [[], ['', 'a', 'ünï']],
  'echo-tuple': [[0, '', 0], [255, 'tuple', -2.5]],
};

test('direct calls return exactly what jco bindings return, for every type', async () => {
  const rt = await runtime();
  const direct = await rt.instantiate(await load('types'));
  const viaJco = await rt.instantiate(await load('types'), { directCalls: false });
  for (const [fn, values] of Object.entries(VALUES)) {
    assert.equal(direct.callPathOf(T + fn), 'direct', fn);
    assert.equal(viaJco.callPathOf(T + fn), 'jco', fn);
    for (const v of values) {
      const a = await direct.call(T + fn, [v]);
      const b = await viaJco.call(T + fn, [v]);
      assert.deepStrictEqual(a, b, `${fn}(${String(v).slice(0, 40)})`);
    }
  }
  assert.ok(Object.is(await direct.call(T + 'echo-f64', [-0]), -0));
});

test('functions with resources keep going through jco', async () => {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('types'));
  assert.equal(instance.callPathOf(T + 'make-counter'), 'jco');
  assert.equal(instance.callPathOf(T + 'counter-value'), 'jco');
  assert.equal(instance.callPathOf(T + '[method]counter.inc'), 'jco');
});

test('direct calls into a component that calls its imports', async () => {
  const rt = await runtime(Capabilities.minimal().withHostFunctions('example:kv/store.*'));
  const store = await rt.instantiate(await load('kv-provider'));
  const app = await rt.instantiate(await load('kv-consumer'), { imports: { 'example:kv/store': store } });
  assert.equal(app.callPathOf('example:kv/app#run'), 'direct');
  assert.equal(store.callPathOf('example:kv/store#get'), 'direct');
  for (let i = 0; i < 100; i++) assert.equal(await app.call('example:kv/app#run', [`k${i % 10}`, `v${i}`]), `v${i}`);
});

test('a guest returning malformed values traps on either path', async () => {
  const { parse, componentEmbed, componentNew } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  const wit = `package example:bad;
interface bad {
  enum e { a, b }
  bad-string: func() -> string;
  bad-char: func() -> char;
  bad-enum: func() -> e;
  bad-list: func() -> list<u32>;
  bad-area: func() -> string;
}
world malformed { export bad; }`;
  const core = await parse(`(module
    (memory (export "memory") 1)
    (data (i32.const 16) "\\f0\\ff\\ff\\ff\\10\\00\\00\\00")
    (data (i32.const 32) "\\01\\00\\00\\00\\02\\00\\00\\00")
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
    (func (export "example:bad/bad#bad-string") (result i32) (i32.const 16))
    (func (export "example:bad/bad#bad-char") (result i32) (i32.const 0xD800))
    (func (export "example:bad/bad#bad-enum") (result i32) (i32.const 7))
    (func (export "example:bad/bad#bad-list") (result i32) (i32.const 32))
    (func (export "example:bad/bad#bad-area") (result i32) (i32.const 65535)))`);
  const bytes = await componentNew(await componentEmbed({ binary: core, witSource: wit, world: 'malformed' }), []);
  const rt = await runtime({}, {}, { cacheDir: false });
  const component = await rt.createComponentModule(bytes);
  for (const fn of ['bad-string', 'bad-char', 'bad-enum', 'bad-list', 'bad-area']) {
    for (const directCalls of [true, false]) {
      const instance = await rt.instantiate(component, { directCalls });
      await assert.rejects(instance.call(`example:bad/bad#${fn}`), Trap, `${fn}, directCalls: ${directCalls}`);
    }
  }
});

test('a component nested inside another is typed and runs, through jco', async () => {
  const { print, parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  const { readFileSync } = await import('node:fs');
  const { fixturePath } = await import('./helpers.ts');
  const inner = (await print(readFileSync(fixturePath('greeter')))).replace(/^\(component/, '(component $inner');
  const outer = await parse(`(component
    ${inner}
    (instance $i (instantiate $inner))
    (alias export $i "example:greeter/greet" (instance $g))
    (export "example:greeter/greet" (instance $g)))`);
  const rt = await runtime({}, {}, { cacheDir: false });
  const component = await rt.createComponentModule(outer);
  assert.deepEqual(component.describe().functions.map((f) => f.path), ['example:greeter/greet#hello']);
  const instance = await rt.instantiate(component);
  assert.equal(await instance.call('example:greeter/greet#hello', ['nested']), 'Hello, nested!');
  assert.equal(instance.callPathOf('example:greeter/greet#hello'), 'jco');
});

test('a JavaScript component (StarlingMonkey): direct calls agree with jco, and its task and handle tables stay the same size over many calls', async () => {
  // Its `stamp` reads the clock and draws a random number.
  const rt = await runtime({ clock: 'real', random: 'crypto' });
  const component = await rt.createComponentModuleFromFile(fixturePath('records-js'));
  const direct = await rt.instantiate(component);
  const viaJco = await rt.instantiate(component, { directCalls: false });
  const A = 'example:records-js/api#';
  const item = { id: 4n, name: 'Widget', tags: ['widget', 'id-4'], price: 1 };
  const calls: [string, unknown[]][] = [
    ['make-item', [4n, 'Widget']],
    ['make-item', [2n ** 64n - 1n, '']],
    ['describe', [item]],
    ['find', [[item, { ...item, id: 5n, price: undefined }], 5n]],
    ['find', [[item], 9n]],
    ['find', [[], 1n]],
    ['parse-u64', ['18446744073709551615']],
    ['parse-u64', ['nope']],
    ['sum', [[1n, 2n, 2n ** 64n - 1n]]],
    ['first-tag', [item]],
    ['first-tag', [{ ...item, tags: [] }]],
  ];
  for (const [fn, args] of calls) {
    assert.equal(direct.callPathOf(A + fn), 'direct', fn);
    assert.deepStrictEqual(await direct.call(A + fn, args), await viaJco.call(A + fn, args), fn);
  }
  assert.deepEqual(await direct.call(A + 'find', [[item], 4n]), { tag: 'found', val: item });
  assert.deepEqual(await direct.call(A + 'parse-u64', ['x']), { tag: 'err', val: 'not a number: x' });
  assert.equal(typeof (await direct.call(A + 'stamp', [])), 'bigint');

  // `stamp` calls the host (the clock) from inside the guest, as most real calls do somewhere.
  for (const instance of [direct, viaJco]) {
    const before = instance.glueTables();
    assert.ok(before, 'the glue reports its tables');
    for (let i = 0; i < 300; i++) {
      await instance.call(A + 'stamp', []);
      await instance.call(A + 'describe', [item]);
    }
    assert.deepEqual(instance.glueTables(), before);
  }
  rt.close();
});
