import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inspect, isComponent } from '../../src/module/inspect.ts';
import { InvalidModule } from '../../src/errors.ts';
import type { ModuleInfo } from '../../src/module/module-info.ts';
import { wat } from '../helpers/wat.ts';
import { component, core, section, str, u32 } from '../helpers/binary.ts';

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fileURLToPath(new URL(`../../fixtures/wat/${name}`, import.meta.url))));
}

function assertInvalid(bytes: Uint8Array | ArrayBuffer, pattern?: RegExp): InvalidModule {
  try {
    inspect(bytes);
  } catch (e) {
    assert.ok(e instanceof InvalidModule, `expected InvalidModule, got ${String(e)}`);
    assert.equal(e.code, 'INVALID_MODULE');
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail('expected inspect to throw InvalidModule');
}

const i32x2 = ['i32', 'i32'];

describe('inspect: fixtures', () => {
  test('add.wasm', () => {
    const bytes = fixture('add.wasm');
    const memory = { min: 1, max: 16, shared: false, memory64: false, imported: false };
    const table = { elementType: 'funcref', min: 2, max: null, imported: false };
    const global = { type: 'i32', mutable: true, imported: false };
    const fn = (name: string, index: number, params: string[], results: string[]) => ({ name, kind: 'function', index, signature: { params, results } });
    const expected: ModuleInfo = {
      kind: 'core',
      size: bytes.length,
      imports: [],
      exports: [
        { name: 'memory', kind: 'memory', index: 0, memory },
        { name: 'counter', kind: 'global', index: 0, global },
        { name: 'table', kind: 'table', index: 0, table },
        fn('add', 0, i32x2, ['i32']),
        fn('add64', 1, ['i64', 'i64'], ['i64']),
        fn('addf', 2, ['f64', 'f64'], ['f64']),
        fn('mul32f', 3, ['f32', 'f32'], ['f32']),
        fn('swap', 4, i32x2, i32x2),
        fn('div', 5, i32x2, ['i32']),
        fn('trap', 6, [], []),
        fn('recurse', 7, ['i32'], ['i32']),
        fn('loop_forever', 8, [], []),
        fn('oob', 9, [], ['i32']),
      ] as ModuleInfo['exports'],
      memories: [memory],
      tables: [table],
      globals: [global],
      functions: 10,
      startFunction: null,
      customSections: [],
      wasi: null,
    };
    assert.deepEqual(inspect(bytes), expected);
    // ArrayBuffer input gives the same answer.
    assert.deepEqual(inspect(bytes.slice().buffer), expected);
  });

  test('imports.wasm', () => {
    const bytes = fixture('imports.wasm');
    const mem = { min: 1, max: null, shared: false, memory64: false, imported: true };
    const g = { type: 'i32', mutable: false, imported: true };
    const tbl = { elementType: 'funcref', min: 1, max: null, imported: true };
    assert.deepEqual(inspect(bytes), {
      kind: 'core',
      size: bytes.length,
      imports: [
        { module: 'env', name: 'log', kind: 'function', signature: { params: ['i32'], results: [] } },
        { module: 'env', name: 'mem', kind: 'memory', memory: mem },
        { module: 'env', name: 'g', kind: 'global', global: g },
        { module: 'env', name: 'tbl', kind: 'table', table: tbl },
        { module: 'host', name: 'now', kind: 'function', signature: { params: [], results: ['f64'] } },
      ],
      exports: [
        { name: 'run', kind: 'function', index: 3, signature: { params: ['i32'], results: ['i32'] } },
        { name: 'time', kind: 'function', index: 4, signature: { params: [], results: ['f64'] } },
        { name: 'started', kind: 'function', index: 5, signature: { params: [], results: ['i32'] } },
      ],
      memories: [mem],
      tables: [tbl],
      globals: [g, { type: 'i32', mutable: true, imported: false }],
      functions: 4,
      startFunction: 2,
      customSections: [],
      wasi: null,
    } satisfies ModuleInfo);
  });

  test('wasi_hello.wasm', () => {
    const bytes = fixture('wasi_hello.wasm');
    const memory = { min: 1, max: null, shared: false, memory64: false, imported: false };
    assert.deepEqual(inspect(bytes), {
      kind: 'core',
      size: bytes.length,
      imports: [
        { module: 'wasi_snapshot_preview1', name: 'fd_write', kind: 'function', signature: { params: ['i32', 'i32', 'i32', 'i32'], results: ['i32'] } },
        { module: 'wasi_snapshot_preview1', name: 'proc_exit', kind: 'function', signature: { params: ['i32'], results: [] } },
      ],
      exports: [
        { name: 'memory', kind: 'memory', index: 0, memory },
        { name: '_start', kind: 'function', index: 2, signature: { params: [], results: [] } },
      ],
      memories: [memory],
      tables: [],
      globals: [],
      functions: 1,
      startFunction: null,
      customSections: [],
      wasi: 'preview1',
    } satisfies ModuleInfo);
  });

  test('grow.wasm', () => {
    const bytes = fixture('grow.wasm');
    const memory = { min: 1, max: null, shared: false, memory64: false, imported: false };
    assert.deepEqual(inspect(bytes), {
      kind: 'core',
      size: bytes.length,
      imports: [],
      exports: [
        { name: 'memory', kind: 'memory', index: 0, memory },
        { name: 'grow', kind: 'function', index: 0, signature: { params: ['i32'], results: ['i32'] } },
        { name: 'size', kind: 'function', index: 1, signature: { params: [], results: ['i32'] } },
        { name: 'fill_pages', kind: 'function', index: 2, signature: { params: ['i32'], results: [] } },
      ],
      memories: [memory],
      tables: [],
      globals: [],
      functions: 3,
      startFunction: null,
      customSections: [],
      wasi: null,
    } satisfies ModuleInfo);
  });

  test('big_initial.wasm', () => {
    const bytes = fixture('big_initial.wasm');
    const memory = { min: 65536, max: null, shared: false, memory64: false, imported: false };
    assert.deepEqual(inspect(bytes), {
      kind: 'core',
      size: bytes.length,
      imports: [],
      exports: [{ name: 'memory', kind: 'memory', index: 0, memory }],
      memories: [memory],
      tables: [],
      globals: [],
      functions: 0,
      startFunction: null,
      customSections: [],
      wasi: null,
    } satisfies ModuleInfo);
  });

  test('wasi_unstable also counts as preview1', () => {
    const info = inspect(core(section(1, [1, 0x60, 0, 0]), section(2, [1, ...str('wasi_unstable'), ...str('proc_exit'), 0x00, 0])));
    assert.equal(info.wasi, 'preview1');
  });
});

describe('inspect: post-MVP encodings', () => {
  test('memory limit flags: shared, memory64, both', async () => {
    const bytes = await wat(`(module
      (memory $a 1 2 shared)
      (memory $b i64 3)
      (memory $c i64 1 5 shared)
      (memory $d 0))`);
    assert.deepEqual(inspect(bytes).memories, [
      { min: 1, max: 2, shared: true, memory64: false, imported: false },
      { min: 3, max: null, shared: false, memory64: true, imported: false },
      { min: 1, max: 5, shared: true, memory64: true, imported: false },
      { min: 0, max: null, shared: false, memory64: false, imported: false },
    ]);
  });

  test('tags, externref tables, passive data with data count, element expressions', async () => {
    const bytes = await wat(`(module
      (import "env" "ext" (tag $imp (param i64)))
      (tag $e (export "e") (param i32))
      (table $t (export "refs") 3 10 externref)
      (table $f 1 funcref)
      (memory 1)
      (global $gf (mut funcref) (ref.func $g))
      (func $g (export "g") (param externref) (result i32)
        (throw $e (i32.const 1)))
      (elem declare func $g)
      (elem (table $f) (i32.const 0) funcref (ref.func $g))
      (data "passive")
      (func (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1))))`);
    const info = inspect(bytes);
    assert.deepEqual(info.imports, [{ module: 'env', name: 'ext', kind: 'tag', signature: { params: ['i64'], results: [] } }]);
    assert.deepEqual(info.exports, [
      { name: 'e', kind: 'tag', index: 1, signature: { params: ['i32'], results: [] } },
      { name: 'refs', kind: 'table', index: 0, table: { elementType: 'externref', min: 3, max: 10, imported: false } },
      { name: 'g', kind: 'function', index: 0, signature: { params: ['externref'], results: ['i32'] } },
    ]);
    assert.deepEqual(info.globals, [{ type: 'funcref', mutable: true, imported: false }]);
    assert.equal(info.functions, 2);
  });

  test('GC rec groups, subtypes, typed references and table initializers', () => {
    const types = section(1, [
      2,
      // rec group of two: a struct (index 0) and a func taking (ref null 0) returning (ref func) (index 1)
      0x4e, 2,
      0x5f, 2, 0x7f, 1, 0x78, 0,
      0x50, 0, 0x60, 1, 0x63, 0x00, 1, 0x64, 0x70,
      // index 2: a final subtype of nothing, () -> anyref
      0x4f, 0, 0x60, 0, 1, 0x6e,
    ]);
    const imports = section(2, [1, ...str('m'), ...str('f'), 0x00, 1]);
    const funcs = section(3, [1, 2]);
    // A non-nullable funcref table needs an initializer: 0x40 0x00 type limits expr
    const tables = section(4, [1, 0x40, 0x00, 0x64, 0x70, 0x00, 1, 0xd2, 0x00, 0x0b]);
    const exports = section(7, [2, ...str('f'), 0x00, 0, ...str('g'), 0x00, 1]);
    const code = section(10, [1, 4, 0, 0xd0, 0x6e, 0x0b]);
    const info = inspect(core(types, imports, funcs, tables, exports, code));
    assert.deepEqual(info.exports, [
      { name: 'f', kind: 'function', index: 0, signature: { params: ['(ref null 0)'], results: ['(ref func)'] } },
      { name: 'g', kind: 'function', index: 1, signature: { params: [], results: ['anyref'] } },
    ]);
    assert.deepEqual(info.tables, [{ elementType: '(ref func)', min: 1, max: null, imported: false }]);
  });

  test('custom sections are listed in order, anywhere', async () => {
    const bytes = core(section(0, [...str('first'), 1, 2, 3]), section(1, [0]), section(0, str('second')));
    assert.deepEqual(inspect(bytes).customSections, ['first', 'second']);
    const named = await wat('(module (func $f))', { names: true });
    assert.deepEqual(inspect(named).customSections, ['name']);
  });
});

describe('inspect: components', () => {
  test('isComponent is a cheap preamble check', () => {
    assert.equal(isComponent(component()), true);
    assert.equal(isComponent(fixture('add.wasm')), false);
    assert.equal(isComponent(new Uint8Array([0, 0x61])), false);
    assert.equal(isComponent(new TextEncoder().encode('(component)')), false);
    assert.equal(isComponent(component().buffer as ArrayBuffer), true);
  });

  test('preamble plus one empty custom section', () => {
    const bytes = component(section(0, str('x')));
    assert.deepEqual(inspect(bytes), {
      kind: 'component',
      size: bytes.length,
      imports: [],
      exports: [],
      memories: [],
      tables: [],
      globals: [],
      functions: 0,
      startFunction: null,
      customSections: ['x'],
      wasi: null,
      componentImports: [],
      componentExports: [],
    } satisfies ModuleInfo);
  });

  test('top-level imports and exports with their kinds; nested sections skipped', () => {
    const nestedModule = section(1, [...core(section(1, [0]))]);
    const imports = section(10, [
      3,
      0x00, ...str('wasi:cli/environment@0.2.0'), 0x05, 0,
      0x01, ...str('wasi:io/streams'), ...str('0.2.0'), 0x05, 1,
      0x00, ...str('log'), 0x01, 2,
    ]);
    const exports = section(11, [
      2,
      0x00, ...str('run'), 0x01, 0, 0x00,
      0x00, ...str('wasi:cli/run@0.2.0'), 0x05, 0, 0x01, 0x05, 3,
    ]);
    const info = inspect(component(nestedModule, imports, exports));
    assert.equal(info.kind, 'component');
    assert.equal(info.wasi, 'preview2');
    assert.deepEqual(info.componentImports, [
      { name: 'wasi:cli/environment@0.2.0', kind: 'instance' },
      { name: 'wasi:io/streams', kind: 'instance' },
      { name: 'log', kind: 'func' },
    ]);
    assert.deepEqual(info.componentExports, [
      { name: 'run', kind: 'func' },
      { name: 'wasi:cli/run@0.2.0', kind: 'instance' },
    ]);
  });

  test('a component without wasi: names is not preview2', () => {
    const info = inspect(component(section(10, [1, 0x00, ...str('host-fn'), 0x01, 0])));
    assert.equal(info.wasi, null);
  });

  test('malformed components', () => {
    assertInvalid(component(section(10, [1, 0x07, ...str('x'), 0x01, 0])), /extern name form/);
    assertInvalid(component(section(10, [1, 0x00, ...str('x'), 0x09, 0])), /extern descriptor/);
    assertInvalid(component([10, 5, 0]), /exceeds/);
    assertInvalid(component(section(13, [])), /unknown component section/);
    assertInvalid(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0c, 0x00, 0x01, 0x00]), /component binary version/);
  });
});

describe('inspect: malformed input', () => {
  test('empty, short, and text inputs are not WebAssembly', () => {
    assertInvalid(new Uint8Array(0), /not a WebAssembly binary \(bad magic\)/);
    assertInvalid(new Uint8Array([0, 0x61, 0x73]), /bad magic/);
    assertInvalid(new TextEncoder().encode('(module)'), /not a WebAssembly binary \(bad magic\)/);
    assertInvalid(new TextEncoder().encode('hello world, this is not wasm'), /bad magic/);
    assertInvalid(new Uint8Array([0, 0x61, 0x73, 0x6d]), /truncated preamble/);
  });

  test('wrong version', () => {
    const bytes = fixture('add.wasm').slice();
    bytes[4] = 2;
    const e = assertInvalid(bytes, /version/);
    assert.equal(e.offset, 4);
  });

  test('every truncation of add.wasm is rejected unless the prefix is itself a valid module', () => {
    const bytes = fixture('add.wasm');
    for (let n = 0; n < bytes.length; n++) {
      const prefix = bytes.slice(0, n);
      if (WebAssembly.validate(prefix)) {
        assert.doesNotThrow(() => inspect(prefix), `prefix of ${n} bytes`);
      } else {
        const e = assertInvalid(prefix);
        assert.ok(e.offset === undefined || (e.offset >= 0 && e.offset <= n), `offset ${e.offset} within the ${n}-byte input`);
      }
    }
  });

  test('section framing errors', () => {
    const type = section(1, [1, 0x60, 0, 0]);
    const func = section(3, [1, 0]);
    const body = section(10, [1, 2, 0, 0x0b]);
    assert.equal(inspect(core(type, func, body)).functions, 1);
    assertInvalid(core(type, body, func), /out of order/);
    assertInvalid(core(type, type), /duplicate type section/);
    assertInvalid(core(type, func), /1 functions but the code section has 0/);
    assertInvalid(core(type, section(10, [1, 2, 0, 0x0b])), /0 functions but the code section has 1/);
    assertInvalid(core(section(14, [])), /unknown section id 14/);
    assertInvalid(core([1, 10, 0]), /exceeds the remaining/);
    // declared size larger than the contents need
    assertInvalid(core(section(1, [0, 0])), /not at the declared end/);
    // a vector count no input could satisfy must not allocate
    assertInvalid(core(section(1, [...u32(0xffffffff)])), /exceeds the remaining/);
    assertInvalid(core(section(12, [2]), section(11, [1, 1, 0])), /data count/);
  });

  test('field-level errors', () => {
    assertInvalid(core(section(1, [1, 0x61, 0, 0])), /unknown type form/);
    assertInvalid(core(section(1, [1, 0x60, 1, 0x01, 0])), /unknown value type/);
    assertInvalid(core(section(2, [1, ...str('a'), ...str('b'), 0x00, 0])), /type index 0 out of range/);
    assertInvalid(core(section(2, [1, ...str('a'), ...str('b'), 0x09])), /unknown import kind/);
    assertInvalid(core(section(5, [1, 0x08, 1])), /limits flags/);
    assertInvalid(core(section(2, [1, 2, 0xff, 0xfe, ...str('b'), 0x02, 0, 1])), /UTF-8/);
    assertInvalid(core(section(7, [1, ...str('m'), 0x02, 0])), /exported memory index 0 out of range/);
    assertInvalid(core(section(6, [1, 0x7f, 0, 0x41, 0x80])), /unexpected end/);
    assertInvalid(core(section(6, [1, 0x7f, 0, 0x41, 0x00, 0xff, 0x0b])), /unknown opcode 0xff/);
    assertInvalid(core(section(8, [5])), /start function index/);
    assertInvalid(core(section(9, [1, 9])), /element segment flags/);
    assertInvalid(core(section(11, [1, 3])), /data segment flags/);
  });

  test('non-byte input', () => {
    assertInvalid('(module)' as unknown as Uint8Array, /Uint8Array or ArrayBuffer/);
  });
});
