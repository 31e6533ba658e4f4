import { test } from 'node:test';
import assert from 'node:assert/strict';
import { componentEmbed } from '@bytecodealliance/jco-transpile/wasm-tools';
import type { FunctionDescription } from '../../src/index.ts';
import { load } from './helpers.ts';

/** Whether wasm-tools accepts the text as WIT. */
async function parsesAsWit(source: string): Promise<void> {
  await componentEmbed({ witSource: source, dummy: true, world: 'root' });
}

test('describe(): interfaces, functions and types as data', async () => {
  const d = (await load('types')).describe();
  assert.deepEqual(d.imports, []);
  assert.equal(d.exports.length, 1);
  const iface = d.exports[0];
  assert.equal(iface.name, 'example:types/types');
  assert.deepEqual(iface.types.map((t) => t.name), ['point', 'person', 'shape', 'color', 'perms', 'counter']);
  const byName = new Map(d.functions.map((f) => [f.name, f]));
  assert.deepEqual(byName.get('echo-point'), {
    name: 'echo-point',
    path: 'example:types/types#echo-point',
    kind: 'function',
    params: [{ name: 'v', type: { kind: 'record', name: 'point', interface: 'example:types/types', fields: [{ name: 'x', type: { kind: 's32' } }, { name: 'y', type: { kind: 's32' } }] } }],
    result: { kind: 'record', name: 'point', interface: 'example:types/types', fields: [{ name: 'x', type: { kind: 's32' } }, { name: 'y', type: { kind: 's32' } }] },
  } satisfies FunctionDescription);
  assert.deepEqual(byName.get('echo-shape')?.result, {
    kind: 'variant', name: 'shape', interface: 'example:types/types',
    cases: [
      { name: 'circle', type: { kind: 'f64' } },
      { name: 'rect', type: { kind: 'record', name: 'point', interface: 'example:types/types', fields: [{ name: 'x', type: { kind: 's32' } }, { name: 'y', type: { kind: 's32' } }] } },
      { name: 'none' },
    ],
  });
  assert.deepEqual(byName.get('echo-color')?.result, { kind: 'enum', name: 'color', interface: 'example:types/types', cases: ['red', 'green', 'blue'] });
  assert.deepEqual(byName.get('echo-perms')?.result, { kind: 'flags', name: 'perms', interface: 'example:types/types', flags: ['read', 'write', 'exec'] });
  assert.deepEqual(byName.get('echo-option')?.result, { kind: 'option', type: { kind: 'string' } });
  assert.deepEqual(byName.get('echo-result')?.result, { kind: 'result', ok: { kind: 'u32' }, err: { kind: 'string' } });
  assert.deepEqual(byName.get('echo-list')?.result, { kind: 'list', element: { kind: 'u32' } });
  assert.deepEqual(byName.get('echo-tuple')?.result, { kind: 'tuple', types: [{ kind: 'u8' }, { kind: 'string' }, { kind: 'f32' }] });
  assert.deepEqual(byName.get('[method]counter.inc'), {
    name: '[method]counter.inc', path: 'example:types/types#[method]counter.inc', kind: 'method', resource: 'counter',
    params: [{ name: 'self', type: { kind: 'borrow', resource: 'counter', interface: 'example:types/types' } }, { name: 'by', type: { kind: 'u32' } }],
    result: { kind: 'u32' },
  });
  assert.deepEqual(byName.get('[constructor]counter')?.result, { kind: 'own', resource: 'counter', interface: 'example:types/types' });
  assert.equal(JSON.stringify(JSON.parse(JSON.stringify(d))), JSON.stringify(d), 'plain JSON data');
});

test('describe(): root-level functions and imports', async () => {
  const limits = (await load('limits')).describe();
  assert.deepEqual(limits.functions.map((f) => f.path), ['add', 'spin', 'count', 'trap', 'grow']);
  assert.equal(limits.exports[0].name, null);
  const consumer = (await load('kv-consumer')).describe();
  assert.deepEqual(consumer.imports.map((i) => i.name), ['example:kv/store']);
  assert.deepEqual(consumer.imports[0].functions.map((f) => f.name), ['get', 'set']);
  assert.deepEqual(consumer.functions.map((f) => f.path), ['example:kv/app#run']);
});

test('describe() names types by the interface that declares them, across `use`', async () => {
  const d = (await load('http-proxy')).describe();
  const handle = d.functions.find((f) => f.path.startsWith('wasi:http/incoming-handler@') && f.name === 'handle')!;
  assert.equal(handle.params[0].type.kind, 'own');
  assert.match((handle.params[0].type as { interface?: string }).interface ?? '', /^wasi:http\/types@/);
  assert.equal((handle.params[0].type as { resource: string }).resource, 'incoming-request');
  const types = d.imports.find((i) => i.name?.startsWith('wasi:http/types@'))!;
  const errorCode = types.types.find((t) => t.name === 'error-code')!;
  assert.equal(errorCode.type.kind, 'variant');
  assert.ok((errorCode.type as { cases: { name: string }[] }).cases.some((c) => c.name === 'HTTP-request-denied'));
});

test('wit(): the root world plus every interface body, as valid WIT', async () => {
  const types = await (await load('types')).wit();
  assert.match(types, /world root \{\n {2}export example:types\/types;\n\}/);
  assert.match(types, /package example:types \{/);
  assert.match(types, /record point \{\n\s+x: s32,\n\s+y: s32,\n\s+\}/);
  assert.match(types, /resource counter \{\n\s+constructor\(start: u32\);\n\s+inc: func\(by: u32\) -> u32;/);
  assert.match(types, /echo-result: func\(v: result<u32, string>\) -> result<u32, string>;/);
  assert.match(types, /counter-value: func\(c: borrow<counter>\) -> u32;/);
  for (const name of ['greeter', 'types', 'limits', 'kv-consumer', 'kv-provider', 'fs-cli', 'http-proxy']) {
    await parsesAsWit(await (await load(name)).wit());
  }
  const proxy = await (await load('http-proxy')).wit();
  assert.match(proxy, /interface streams \{\n\s+use error\.\{error\};/, 'same-package uses are unqualified');
  assert.match(proxy, /use wasi:io\/streams@[0-9.]+\.\{input-stream, output-stream\};/);
});
