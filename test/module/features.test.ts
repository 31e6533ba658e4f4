import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { detectFeatures } from '../../src/module/features.ts';
import { wat } from '../helpers/wat.ts';

function fixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(fileURLToPath(new URL(`../../fixtures/${path}`, import.meta.url))));
}

const keys = (bytes: Uint8Array, walkCode = true): string[] => [...detectFeatures(bytes, { walkCode }).keys()].sort();

test('an MVP module with a funcref table uses no proposal', async () => {
  assert.deepEqual(keys(await wat('(module (table 2 funcref) (memory 1) (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))')), []);
});

test('every instruction family is found in the code, with where it was first seen', () => {
  const found = detectFeatures(fixture('wat/opcodes.wasm'), { walkCode: true });
  assert.deepEqual([...found.keys()].sort(), ['bulkMemory', 'memory64', 'multiMemory', 'referenceTypes', 'relaxedSimd', 'simd', 'threads']);
  assert.match(found.get('relaxedSimd')!, /instruction 0xfd \d+ at offset \d+/);
  assert.deepEqual(keys(fixture('wat/kernels.wasm')), ['exceptions', 'referenceTypes', 'tailCalls']);
});

test('declarations alone show what the runtimes refuse: shared memories and GC types', () => {
  assert.equal(detectFeatures(fixture('hostile/shared_wait.wasm'), { walkCode: false }).get('threads'), 'memory 0 is shared');
  assert.match(detectFeatures(fixture('hostile/gc_loops.wasm'), { walkCode: false }).get('gc')!, /^type 0: array type/);
  // Atomics on an unshared memory are single-threaded accesses: only the code walk counts them.
  const unshared = fixture('wat/opcodes.wasm');
  assert.equal(detectFeatures(unshared, { walkCode: false }).has('simd'), false);
});
