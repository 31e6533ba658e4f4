import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from '../../src/index.ts';
import { dataFunctions, unpackResult } from '../../src/communication/guest-abi.ts';
import { wat } from '../helpers/wat.ts';

const RUNTIME = `
  (memory (export "memory") 1)
  (func (export "wsdata:abi_v1"))
  (func (export "wsdata:alloc") (param i32) (result i32) (i32.const 16))
  (func (export "wsdata:free") (param i32 i32))`;

async function fns(body: string) {
  return dataFunctions(inspect(await wat(`(module ${body})`)));
}

test('data functions are the wsdata: exports of a module that declares ABI v1', async () => {
  const found = await fns(`${RUNTIME}
    (func (export "wsdata:echo") (param i32 i32) (result i64) (i64.const 0))
    (func (export "add") (param i32 i32) (result i32) (i32.const 0))
    (func (export "looks_like_one") (param i32 i32) (result i64) (i64.const 0))`);
  assert.deepEqual([...found.keys()], ['echo']);
  assert.deepEqual(found.get('echo'), { name: 'echo', exportName: 'wsdata:echo', kind: 'wsdata', defect: undefined });
});

test('a signature alone never makes a data function', async () => {
  const found = await fns(`(memory (export "memory") 1)
    (func (export "echo") (param i32 i32) (result i64) (i64.const 0))
    (func (export "run") (result i32) (i32.const 0))`);
  assert.equal(found.size, 0);
});

test('a declared function with a broken module or signature carries the reason', async () => {
  const noMarker = await fns(`(memory (export "memory") 1) (func (export "wsdata:f") (param i32 i32) (result i64) (i64.const 0))`);
  assert.match(noMarker.get('f')!.defect!, /no 'wsdata:abi_v1' marker/);
  const future = await fns(`(memory (export "memory") 1) (func (export "wsdata:abi_v2")) (func (export "wsdata:f") (param i32 i32) (result i64) (i64.const 0))`);
  assert.match(future.get('f')!.defect!, /speaks guest ABI v2; this host speaks v1/);
  const noAlloc = await fns(`(memory (export "memory") 1) (func (export "wsdata:abi_v1")) (func (export "wsdata:f") (param i32 i32) (result i64) (i64.const 0))`);
  assert.match(noAlloc.get('f')!.defect!, /'wsdata:alloc' must be an exported function/);
  const noMemory = await fns(`(memory 1) (func (export "wsdata:abi_v1")) (func (export "wsdata:alloc") (param i32) (result i32) (i32.const 0))
    (func (export "wsdata:free") (param i32 i32)) (func (export "wsdata:f") (param i32 i32) (result i64) (i64.const 0))`);
  assert.match(noMemory.get('f')!.defect!, /no memory named 'memory'/);
  const badSig = await fns(`${RUNTIME} (func (export "wsdata:f") (param i32) (result i64) (i64.const 0)) (global (export "wsdata:g") i32 (i32.const 0))`);
  assert.match(badSig.get('f')!.defect!, /found \(i32\) -> \(i64\)/);
  assert.match(badSig.get('g')!.defect!, /found a global/);
});

test('Extism plugins: every () -> i32 or () -> () export of a module importing extism:host/env', async () => {
  const found = await fns(`(import "extism:host/env" "input_length" (func (result i64)))
    (memory (export "memory") 1)
    (func (export "count_vowels") (result i32) (i32.const 0))
    (func (export "noop"))
    (func (export "_start"))
    (func (export "_initialize"))
    (func (export "helper") (param i32) (result i32) (i32.const 0))`);
  assert.deepEqual([...found.keys()], ['count_vowels', 'noop']);
  assert.equal(found.get('count_vowels')!.kind, 'extism');
});

test('a result word splits into pointer, length and error flag as unsigned values', () => {
  assert.deepEqual(unpackResult(0x0000000c00000400n), { ptr: 1024, len: 12, isError: false });
  assert.deepEqual(unpackResult(-1n), { ptr: 0xffffffff, len: 0x7fffffff, isError: true });
  assert.deepEqual(unpackResult(BigInt.asIntN(64, 0x8000000500000010n)), { ptr: 16, len: 5, isError: true });
});
