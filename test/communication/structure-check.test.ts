/**
 * Payload shapes are checked before anything is decoded: nesting is bounded, MessagePack is scanned
 * without being built, and the scan stops at the call's deadline.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode, decode } from '@msgpack/msgpack';
import { bytesToJsonText, checkMsgpackInput, checkMsgpackOutput, decodeMsgpack, jsonTextToBytes } from '../../src/communication/codecs.ts';
import { callDeadline, checkMsgpack, MalformedPayload, MAX_NESTING } from '../../src/communication/structure-check.ts';
import { AbiViolation, InvalidArguments, Timeout } from '../../src/index.ts';
import { RUNTIMES, withInstance } from './helpers.ts';
import { prng } from '../helpers/prng.ts';

const none = (): void => {};

/** `depth` one-element arrays around a nil: 16 MiB of this was 16 million host arrays. */
function nestedMsgpack(depth: number): Uint8Array {
  const bytes = new Uint8Array(depth + 1).fill(0x91);
  bytes[depth] = 0xc0;
  return bytes;
}

function randomValue(next: () => number, depth: number): unknown {
  const k = Math.floor(next() * (depth > 4 ? 6 : 8));
  switch (k) {
    case 0: return null;
    case 1: return next() < 0.5;
    case 2: return Math.floor((next() - 0.5) * 2 ** (Math.floor(next() * 60)));
    case 3: return next() * 1e6;
    case 4: return 'x'.repeat(Math.floor(next() * 300)) + '\u00e9\u{1f600}';
    case 5: return Uint8Array.from({ length: Math.floor(next() * 70_000 * (next() < 0.1 ? 1 : 0.001)) }, (_, i) => i);
    case 6: return Array.from({ length: Math.floor(next() * 20) }, () => randomValue(next, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(next() * 20) }, (_, i) => [`k${i}`, randomValue(next, depth + 1)]));
  }
}

describe('MessagePack shape check', () => {
  test('accepts what the MessagePack library encodes, and refuses every truncation of it', () => {
    const next = prng(13);
    for (let i = 0; i < 300; i++) {
      const bytes = encode(randomValue(next, 0));
      checkMsgpack(bytes, none);
      const cut = Math.floor(next() * bytes.length);
      assert.throws(() => checkMsgpack(bytes.subarray(0, cut), none), MalformedPayload, `cut at ${cut} of ${bytes.length}`);
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      assert.throws(() => checkMsgpack(longer, none), MalformedPayload, 'trailing bytes');
    }
  });

  test('whatever random bytes the library decodes, the check accepts', () => {
    const next = prng(7);
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(next() * 12) }, () => Math.floor(next() * 256));
      let libraryOk = true;
      try {
        decode(bytes);
      } catch {
        libraryOk = false;
      }
      if (!libraryOk) continue;
      decoded++;
      assert.doesNotThrow(() => checkMsgpack(bytes, none), `bytes ${Buffer.from(bytes).toString('hex')}`);
    }
    assert.ok(decoded > 1000, `${decoded} decodable samples`);
  });

  test('0xc1 and nesting past the bound are refused; the bound itself is fine', () => {
    assert.throws(() => checkMsgpack(Uint8Array.of(0xc1), none), /0xc1/);
    checkMsgpack(nestedMsgpack(MAX_NESTING), none);
    assert.throws(() => checkMsgpack(nestedMsgpack(MAX_NESTING + 1), none), /deep/);
    // Maps nest as deep as arrays: { "": { "": ... } }.
    const maps = Buffer.concat([Buffer.alloc(2 * (MAX_NESTING + 1)).fill(Buffer.from([0x81, 0xa0])), Buffer.from([0xc0])]);
    assert.throws(() => checkMsgpack(maps, none), /deep/);
  });

  test('a count larger than the bytes left is refused without reading past the end', () => {
    assert.throws(() => checkMsgpack(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0), none), MalformedPayload);
    assert.throws(() => checkMsgpack(Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff), none), MalformedPayload);
    assert.throws(() => checkMsgpack(Uint8Array.of(0xc9, 0, 0, 0, 1), none), MalformedPayload);
  });

  test('16 MiB nested a byte at a time is InvalidArguments from a caller and AbiViolation from a guest', () => {
    const deep = nestedMsgpack(16 * 1024 * 1024);
    assert.throws(() => checkMsgpackInput('f', deep), (e) => e instanceof InvalidArguments && /deep/.test(e.message));
    assert.throws(() => checkMsgpackOutput('f', deep), (e) => e instanceof AbiViolation && /deep/.test(e.message));
    assert.throws(() => decodeMsgpack(deep), InvalidArguments);
  });

  test('the scan checks the deadline before it starts and every chunk after', () => {
    let checks = 0;
    const flat = new Uint8Array(8 * 1024 * 1024 + 5);
    flat.set([0xdd, 0, 0x80, 0, 0]); // array 32 of 8 Mi nils
    checkMsgpack(flat, () => void checks++);
    assert.ok(checks >= 8, `${checks} checks`);
    const stop = new Timeout('call', 10, 11);
    let seen = 0;
    assert.throws(() => checkMsgpackInput('f', flat, () => { if (++seen > 2) throw stop; }), (e) => e === stop, 'a Timeout is not reported as bad input');
    assert.throws(() => callDeadline(0)(), Timeout);
    callDeadline(null)();
  });
});

describe('JSON nesting', () => {
  test('past the bound is refused before parsing; brackets inside strings do not count', () => {
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    assert.throws(() => jsonTextToBytes('f', deep), (e) => e instanceof InvalidArguments && /deep/.test(e.message));
    assert.throws(() => bytesToJsonText('f', Buffer.from(deep)), (e) => e instanceof AbiViolation && /deep/.test(e.message));
    const atBound = '['.repeat(MAX_NESTING) + ']'.repeat(MAX_NESTING);
    jsonTextToBytes('f', atBound);
    jsonTextToBytes('f', JSON.stringify(['['.repeat(10_000), '\\"[[[', { a: '{{{{' }]));
    assert.throws(() => jsonTextToBytes('f', '{"a":' + '['.repeat(MAX_NESTING) + ']'.repeat(MAX_NESTING) + '}'), /deep/);
  });
});

for (const runtime of RUNTIMES) {
  describe(`deeply nested payloads through the sandbox (${runtime})`, () => {
    test('are refused as InvalidArguments before the guest runs, and the instance stays usable', async () => {
      await withInstance(runtime, 'wat/malicious.wasm', async (s, id) => {
        const deep = nestedMsgpack(16 * 1024 * 1024 - 1);
        await assert.rejects(s.callFunctionMsgpack(id, 'echo', deep), (e) => e instanceof InvalidArguments && /deep/.test(e.message));
        await assert.rejects(s.callFunctionJson(id, 'echo', '['.repeat(100_000)), InvalidArguments);
        assert.deepEqual(await s.callFunctionMsgpack(id, 'echo', encode([1, [2, [3]]])), encode([1, [2, [3]]]));
        assert.equal(await s.callFunctionJson(id, 'echo', '[[1]]'), '[[1]]');
      }, { resourceLimits: { io: { maxPayloadBytes: null } } });
    });
  });
}
