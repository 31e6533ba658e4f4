import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { FunctionDescription, TypeDescription } from '../../src/component/wit/describe.ts';
import { argsDigest, canonicalJson } from '../../src/wrappers/mcp/audit-log.ts';
import { fromJson, toJson, ValueOutOfRange } from '../../src/wrappers/mcp/wit-json.ts';
import { inputSchema, outputSchema, schemaFor, unsupported, witSignature } from '../../src/wrappers/mcp/wit-schema.ts';

const point: TypeDescription = { kind: 'record', name: 'point', fields: [{ name: 'x', type: { kind: 's32' } }, { name: 'y', type: { kind: 's32' } }] };
const perms: TypeDescription = { kind: 'flags', name: 'perms', flags: ['read', 'write', 'exec-all'] };

describe('audit digests', () => {
  test('canonical JSON sorts keys at every level and drops undefined members', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: null, y: 'é' }], c: undefined } }), '{"a":{"d":[1,{"y":"é","z":null}]},"b":1}');
    assert.equal(canonicalJson([undefined]), '[null]');
    assert.equal(canonicalJson(undefined), 'null');
  });

  test('equal arguments hash alike whatever their key order; no arguments hash as {}', () => {
    assert.equal(argsDigest({ a: 1, b: 2 }), argsDigest({ b: 2, a: 1 }));
    assert.equal(argsDigest(undefined), createHash('sha256').update('{}').digest('hex'));
    assert.notEqual(argsDigest({ a: 1 }), argsDigest({ a: '1' }));
  });
});

describe('JSON Schema from WIT types', () => {
  test('integers carry their ranges; 64-bit ones also take decimal strings', () => {
    assert.deepEqual(schemaFor({ kind: 's16' }, 'input'), { type: 'integer', minimum: -32768, maximum: 32767 });
    const u64 = new Ajv2020().compile(schemaFor({ kind: 'u64' }, 'input'));
    assert.ok(u64(0) && u64('18446744073709551615') && u64(2 ** 53 - 1));
    assert.ok(!u64(-1) && !u64('-1') && !u64(1.5) && !u64('0x10') && !u64(2 ** 53));
  });

  test('records require their non-option fields and refuse unknown ones', () => {
    const record: TypeDescription = { kind: 'record', name: 'r', fields: [{ name: 'a', type: { kind: 'string' } }, { name: 'b', type: { kind: 'option', type: { kind: 'u8' } } }] };
    const v = new Ajv2020().compile(schemaFor(record, 'input'));
    assert.ok(v({ a: 'x' }) && v({ a: 'x', b: null }) && v({ a: 'x', b: 3 }));
    assert.ok(!v({ b: 3 }) && !v({ a: 'x', c: 1 }) && !v({ a: 'x', b: 300 }));
  });

  test('variants and results are tagged objects; payload-less cases take no val', () => {
    const shape: TypeDescription = { kind: 'variant', name: 'shape', cases: [{ name: 'circle', type: { kind: 'f64' } }, { name: 'none' }] };
    const v = new Ajv2020().compile(schemaFor(shape, 'input'));
    assert.ok(v({ tag: 'circle', val: 1 }) && v({ tag: 'none' }));
    assert.ok(!v({ tag: 'circle' }) && !v({ tag: 'none', val: 1 }) && !v({ tag: 'square', val: 1 }));
    const result = new Ajv2020().compile(schemaFor({ kind: 'result', err: { kind: 'string' } }, 'input'));
    assert.ok(result({ tag: 'ok' }) && result({ tag: 'err', val: 'x' }) && !result({ tag: 'err' }));
  });

  test('tuples are length-checked arrays, also for draft-07 validators such as the SDK client', () => {
    const tuple = schemaFor({ kind: 'tuple', types: [{ kind: 'u8' }, { kind: 'string' }] }, 'output');
    const v2020 = new Ajv2020().compile(tuple);
    assert.ok(v2020([1, 'a']) && !v2020([1, 2]) && !v2020([1]) && !v2020([1, 'a', 2]));
    const v07 = new Ajv({ strict: false }).compile(tuple);
    assert.ok(v07([1, 'a']) && !v07([1]) && !v07([1, 'a', 2]));
  });

  test('types without a JSON form are named', () => {
    assert.equal(unsupported({ kind: 'own', resource: 'counter' }), "resource 'counter'");
    assert.equal(unsupported({ kind: 'list', element: { kind: 'borrow', resource: 'file' } }), "resource 'file'");
    assert.equal(unsupported({ kind: 'option', type: { kind: 'option', type: { kind: 'u8' } } }), 'nested option');
    assert.equal(unsupported({ kind: 'stream', type: { kind: 'u8' } }), 'stream');
    assert.equal(unsupported(point), undefined);
  });

  test('a function: input schema per parameter, output under `result`, `ok` for WIT results', () => {
    const fn: FunctionDescription = {
      name: 'move', path: 'geo#move', kind: 'function',
      params: [{ name: 'p', type: point }, { name: 'by', type: { kind: 'option', type: { kind: 's32' } } }],
      result: { kind: 'result', ok: point, err: { kind: 'string' } },
    };
    const input = inputSchema(fn);
    assert.deepEqual(input.required, ['p']);
    assert.equal(input.additionalProperties, false);
    assert.deepEqual(outputSchema(fn), { type: 'object', properties: { result: schemaFor(point, 'output') }, required: ['result'] });
    assert.equal(outputSchema({ ...fn, result: undefined }), undefined);
    assert.equal(outputSchema({ ...fn, result: { kind: 'result', err: { kind: 'string' } } }), undefined);
    assert.equal(witSignature(fn), 'move: func(p: point, by: option<s32>) -> result<point, string>');
  });
});

describe('JSON ↔ WIT values', () => {
  test('64-bit integers become BigInts, and back to numbers only while exact', () => {
    assert.equal(fromJson({ kind: 'u64' }, '18446744073709551615'), 18446744073709551615n);
    assert.equal(fromJson({ kind: 's64' }, -3), -3n);
    assert.throws(() => fromJson({ kind: 'u64' }, '18446744073709551616'), ValueOutOfRange);
    assert.equal(toJson({ kind: 'u64' }, 5n), 5);
    assert.equal(toJson({ kind: 'u64' }, 2n ** 60n), '1152921504606846976');
  });

  test('flags: names ↔ jco booleans (camelCase keys); records: WIT names ↔ camelCase', () => {
    assert.deepEqual(fromJson(perms, ['exec-all']), { read: false, write: false, execAll: true });
    assert.deepEqual(toJson(perms, { read: true, write: false, execAll: true }), ['read', 'exec-all']);
    const rec: TypeDescription = { kind: 'record', fields: [{ name: 'first-name', type: { kind: 'string' } }, { name: 'nick', type: { kind: 'option', type: { kind: 'string' } } }] };
    assert.deepEqual(fromJson(rec, { 'first-name': 'Ada' }), { firstName: 'Ada', nick: undefined });
    assert.deepEqual(toJson(rec, { firstName: 'Ada', nick: undefined }), { 'first-name': 'Ada', nick: null });
  });

  test('lists from typed arrays, non-finite floats as strings, nested payloads converted', () => {
    assert.deepEqual(toJson({ kind: 'list', element: { kind: 'u8' } }, new Uint8Array([1, 2])), [1, 2]);
    assert.deepEqual(toJson({ kind: 'list', element: { kind: 's64' } }, new BigInt64Array([-1n])), [-1]);
    assert.equal(toJson({ kind: 'f64' }, NaN), 'NaN');
    assert.equal(toJson({ kind: 'f32' }, -Infinity), '-Infinity');
    const t: TypeDescription = { kind: 'variant', cases: [{ name: 'big', type: { kind: 'u64' } }, { name: 'none' }] };
    assert.deepEqual(fromJson(t, { tag: 'big', val: '7' }), { tag: 'big', val: 7n });
    assert.deepEqual(toJson(t, { tag: 'none' }), { tag: 'none' });
    assert.equal(fromJson({ kind: 'option', type: { kind: 'string' } }, null), undefined);
  });
});
