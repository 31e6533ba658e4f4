import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArguments } from '../../src/index.ts';
import { load, runtime } from './helpers.ts';

const T = 'example:types/types#';

async function types() {
  const rt = await runtime();
  return rt.instantiate(await load('types'));
}

test('every WIT value type passes both ways unchanged', async () => {
  const instance = await types();
  const cases: [string, unknown, unknown?][] = [
    ['echo-bool', true],
    ['echo-bool', false],
    ['echo-s8', -128],
    ['echo-u8', 255],
    ['echo-s16', -32768],
    ['echo-u16', 65535],
    ['echo-s32', -2147483648],
    ['echo-u32', 4294967295],
    ['echo-s64', -(2n ** 63n)],
    ['echo-u64', 2n ** 64n - 1n],
    ['echo-f32', 1.5],
    ['echo-f64', Math.PI],
    ['echo-char', 'é'],
    ['echo-char', '🦀'],
    ['echo-string', ''],
    ['echo-string', 'héllo, 世界 🦀'],
    ['echo-point', { x: 1, y: -2 }],
    ['echo-person', { name: 'Ann', age: 30, tags: ['a', 'b'], email: 'ann@example.com' }],
    ['echo-person', { name: 'Bob', age: 0, tags: [], email: undefined }, { name: 'Bob', age: 0, tags: [], email: undefined }],
    ['echo-shape', { tag: 'circle', val: 2.5 }],
    ['echo-shape', { tag: 'rect', val: { x: 3, y: 4 } }],
    ['echo-shape', { tag: 'none' }],
    ['echo-color', 'green'],
    ['echo-perms', { read: true, exec: true }, { read: true, write: false, exec: true }],
    ['echo-perms', {}, { read: false, write: false, exec: false }],
    ['echo-option', 'some'],
    ['echo-option', undefined],
    ['echo-result', { tag: 'ok', val: 7 }],
    ['echo-result', { tag: 'err', val: 'bad' }],
    ['echo-list', [1, 2, 4294967295], new Uint32Array([1, 2, 4294967295])],
    ['echo-list', new Uint32Array([5, 6])],
    ['echo-list', [], new Uint32Array([])],
    ['echo-bytes', new Uint8Array([0, 1, 255])],
    ['echo-bytes', [9, 8], new Uint8Array([9, 8])],
    ['echo-strings', ['a', '', 'ccc']],
    ['echo-tuple', [7, 'seven', 7.5]],
  ];
  for (const [fn, value, expected] of cases) {
    assert.deepEqual(await instance.call(T + fn, [value]), fn === 'echo-result' ? value : (expected ?? value), fn);
  }
  const f32 = (await instance.call(T + 'echo-f32', [0.1])) as number;
  assert.equal(f32, Math.fround(0.1));
  assert.ok(Number.isNaN(await instance.call(T + 'echo-f64', [NaN])));
});

test('64-bit integers may be given as safe-integer numbers; results are BigInts', async () => {
  const instance = await types();
  assert.equal(await instance.call(T + 'echo-s64', [-5]), -5n);
  assert.equal(await instance.call(T + 'echo-u64', [Number.MAX_SAFE_INTEGER]), BigInt(Number.MAX_SAFE_INTEGER));
});

test('resources: constructors, methods, and handles passed back as borrows', async () => {
  const instance = await types();
  const counter = await instance.call(T + '[constructor]counter', [5]);
  assert.equal(typeof counter, 'object');
  assert.equal(await instance.call(T + '[method]counter.inc', [counter, 3]), 8);
  assert.equal(await instance.call(T + '[method]counter.get', [counter]), 8);
  assert.equal(await instance.call(T + 'counter-value', [counter]), 8);
  const made = await instance.call(T + 'make-counter', [100]);
  assert.equal(await instance.call(T + '[method]counter.inc', [made, 1]), 101);
  assert.equal(await instance.call(T + 'counter-value', [counter]), 8, 'each resource keeps its own state');
});

test('wrong argument types are InvalidArguments, checked before the guest runs, and the instance stays usable', async () => {
  const instance = await types();
  const bad: [string, unknown[], RegExp][] = [
    ['echo-bool', [1], /expected bool/],
    ['echo-u8', [256], /u8/],
    ['echo-u8', [-1], /u8/],
    ['echo-s32', [1.5], /s32/],
    ['echo-u32', [2 ** 32], /u32/],
    ['echo-u32', ['1'], /u32/],
    ['echo-s64', [2n ** 63n], /s64/],
    ['echo-u64', [-1n], /u64/],
    ['echo-u64', [2 ** 60], /u64/],
    ['echo-f64', ['1.0'], /f64/],
    ['echo-char', ['ab'], /char/],
    ['echo-char', [''], /char/],
    ['echo-char', ['\uD800'], /char/],
    ['echo-string', [undefined], /string/],
    ['echo-point', [{ x: 1 }], /'v\.y'/],
    ['echo-point', [{ x: 1, y: 2, z: 3 }], /'v\.z': expected no such field/],
    ['echo-point', [[1, 2]], /record/],
    ['echo-person', [{ name: 'a', age: 1, tags: ['x', 2], email: undefined }], /'v\.tags\[1\]': expected string/],
    ['echo-shape', [{ tag: 'triangle' }], /variant/],
    ['echo-shape', [{ tag: 'circle', val: 'big' }], /'v\.val': expected f64/],
    ['echo-color', ['purple'], /enum \(red \| green \| blue\)/],
    ['echo-perms', [{ read: 'yes' }], /boolean/],
    ['echo-perms', [{ admin: true }], /no such flag/],
    ['echo-perms', [7], /flags/],
    ['echo-option', [5], /string/],
    ['echo-result', [{ tag: 'maybe' }], /result/],
    ['echo-result', [{ tag: 'ok', val: 'x' }], /u32/],
    ['echo-list', [new Uint8Array(4)], /list<u32>/],
    ['echo-list', ['1,2'], /list<u32>/],
    ['echo-bytes', [[256]], /u8/],
    ['echo-tuple', [[1, 'a']], /tuple of 3/],
    ['echo-tuple', [[1, 2, 3]], /'v\[1\]': expected string/],
    ['counter-value', [5], /resource handle/],
    ['echo-bool', [], /expected 1 argument/],
    ['echo-bool', [true, false], /expected 1 argument/],
  ];
  for (const [fn, args, message] of bad) {
    await assert.rejects(instance.call(T + fn, args), (err: unknown) => {
      assert.ok(err instanceof InvalidArguments, `${fn}: ${String(err)}`);
      assert.match(err.message, message, fn);
      return true;
    });
  }
  const err = await instance.call(T + 'echo-point', [{ x: 'a', y: 1 }]).catch((e: unknown) => e);
  assert.ok(err instanceof InvalidArguments);
  assert.equal(err.parameter, 0);
  assert.match(err.expected ?? '', /s32/);
  assert.equal(instance.usable, true);
  assert.deepEqual(await instance.call(T + 'echo-point', [{ x: 1, y: 2 }]), { x: 1, y: 2 });
});

test('a call with args that is not an array is InvalidArguments', async () => {
  const instance = await types();
  await assert.rejects(instance.call(T + 'echo-bool', 'true' as never), InvalidArguments);
});

test('a resource handle from another instance, or a made-up object, is InvalidArguments', async () => {
  const a = await types();
  const b = await types();
  const counter = await a.call(T + '[constructor]counter', [1]);
  await assert.rejects(b.call(T + 'counter-value', [counter]), InvalidArguments);
  await assert.rejects(b.call(T + 'counter-value', [{}]), InvalidArguments);
  assert.equal(b.usable, true);
  assert.equal(await a.call(T + 'counter-value', [counter]), 1);
});
