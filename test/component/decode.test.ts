import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { InvalidModule } from '../../src/index.ts';
import { decodeComponent } from '../../src/component/wit/decode-component.ts';
import { fixturePath } from './helpers.ts';

/** Deterministic pseudo-random bytes, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('decoding mutated components either succeeds or throws InvalidModule, never anything else', () => {
  for (const name of ['greeter', 'types', 'kv-consumer', 'limits']) {
    const original = readFileSync(fixturePath(name));
    const random = rng(name.length * 7919);
    for (let i = 0; i < 400; i++) {
      const bytes = new Uint8Array(original);
      const flips = 1 + Math.floor(random() * 4);
      for (let k = 0; k < flips; k++) bytes[8 + Math.floor(random() * (bytes.length - 8))] = Math.floor(random() * 256);
      try {
        decodeComponent(bytes);
      } catch (err) {
        assert.ok(err instanceof InvalidModule, `${name} mutation ${i}: ${String(err)}`);
      }
    }
  }
});

/** A component binary holding one type section with the given type entries. */
function withTypes(types: number[][]): Uint8Array {
  const body = [types.length, ...types.flat()];
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x07, ...leb(body.length), ...body]);
}

function leb(n: number): number[] {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

test('a few bytes describing an exponentially large type are refused', () => {
  // type 0 = tuple<u8, u8>; type i = tuple<type i-1, type i-1>: 2^40 leaves after 40 entries.
  const types = [[0x6f, 2, 0x7d, 0x7d]];
  for (let i = 1; i < 40; i++) types.push([0x6f, 2, ...leb(i - 1), ...leb(i - 1)]);
  assert.throws(() => decodeComponent(withTypes(types)), (err: unknown) => err instanceof InvalidModule && /too large/.test(err.message));
});

test('deeply nested type declarations are refused, not a stack overflow', () => {
  // instance types nested 5000 deep: each one declares the next inside it.
  const depth = 5000;
  const open: number[] = [];
  for (let i = 0; i < depth; i++) open.push(0x42, 1, 0x01);
  const inner = [0x42, 0];
  const entry = [...open, ...inner];
  assert.throws(() => decodeComponent(withTypes([entry])), (err: unknown) => err instanceof InvalidModule && /nested too deeply/.test(err.message));
});
