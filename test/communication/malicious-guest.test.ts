import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AbiViolation, ResourceLimitExceeded, Timeout, Trap, type WasmSandbox } from '../../src/index.ts';
import { RUNTIMES, withInstance } from './helpers.ts';

async function violation(s: WasmSandbox, id: string, name: string, pattern: RegExp): Promise<void> {
  const err = await s.callFunctionJson(id, name, '"input"').catch((e: unknown) => e);
  assert.ok(err instanceof AbiViolation, `${name}: expected AbiViolation, got ${String(err)}`);
  assert.equal(err.code, 'ABI_VIOLATION');
  assert.equal(err.functionName, name);
  assert.match(err.message, pattern);
}

for (const runtime of RUNTIMES) {
  describe(`a malicious wsdata guest (${runtime})`, () => {
    test('results pointing outside memory, wrapping, or at null are refused before any read', async () => {
      await withInstance(runtime, 'wat/malicious.wasm', async (s, id) => {
        await violation(s, id, 'oob', /\[65536, 65536\+16\) as its result, outside the guest's 65536-byte memory/);
        await violation(s, id, 'wrap', /\[4294967288, 4294967288\+16\)/);
        await violation(s, id, 'null', /\[0, 0\+5\)/);
        await violation(s, id, 'bad_error', /as its error report, outside/);
        assert.equal(await s.callFunctionJson(id, 'echo', '"fine"'), '"fine"', 'the instance stays usable');
      }, { resourceLimits: { io: { maxPayloadBytes: null } } });
    });

    test('a huge result length hits the payload limit, or the bounds check without one', async () => {
      await withInstance(runtime, 'wat/malicious.wasm', async (s, id) => {
        const err = await s.callFunctionJson(id, 'huge', '1').catch((e: unknown) => e);
        assert.ok(err instanceof ResourceLimitExceeded);
        assert.equal(err.limit, 'payload-bytes');
        assert.equal(err.observed, 2 ** 31 - 1);
      });
      await withInstance(runtime, 'wat/malicious.wasm', async (s, id) => {
        await violation(s, id, 'huge', /outside the guest's/);
      }, { resourceLimits: { io: { maxPayloadBytes: null } } });
    });

    test('garbage bytes are not passed off as JSON or MessagePack', async () => {
      await withInstance(runtime, 'wat/malicious.wasm', async (s, id) => {
        await violation(s, id, 'garbage', /not valid UTF-8/);
        await violation(s, id, 'not_json', /not valid JSON/);
        await assert.rejects(s.callFunction(id, 'not_json', []), AbiViolation);
        const err = await s.callFunctionMsgpack(id, 'garbage', Uint8Array.of(0xc0)).catch((e: unknown) => e);
        assert.ok(err instanceof AbiViolation);
        assert.match(err.message, /not valid MessagePack/);
        // The raw bytes are what they are: callFunctionBytes passes them on unjudged.
        assert.deepEqual(await s.callFunctionBytes(id, 'garbage', Uint8Array.of(1)), Uint8Array.of(0xff, 0xfe, 0, 1));
      });
    });

    test('an allocator that returns null or a pointer past memory', async () => {
      await withInstance(runtime, 'wat/malicious.wasm', async (s, id) => {
        await s.callFunction(id, 'set_mode', [1]);
        await violation(s, id, 'echo', /'wsdata:alloc' returned \[2147418112, 2147418112\+7\), outside/);
        await s.callFunction(id, 'set_mode', [2]);
        await violation(s, id, 'echo', /'wsdata:alloc' returned 0 for 7 bytes/);
        await s.callFunction(id, 'set_mode', [0]);
        assert.equal(await s.callFunctionJson(id, 'echo', '"ok"'), '"ok"');
      });
    });

    test('a data function with the wrong signature is declared but not callable', async () => {
      await withInstance(runtime, 'wat/malicious.wasm', async (s, id) => {
        assert.ok(s.listDataFunctions(id).includes('bad_sig'));
        await violation(s, id, 'bad_sig', /signature \(i32, i32\) -> \(i64\), found \(i32\) -> \(i32\)/);
      });
    });

    test('a trap and an endless loop end as Trap and Timeout', async () => {
      await withInstance(runtime, 'wat/malicious.wasm', async (s, id) => {
        const trap = await s.callFunctionJson(id, 'trap', '1').catch((e: unknown) => e);
        assert.ok(trap instanceof Trap);
        assert.equal(trap.kind, 'unreachable');
        await assert.rejects(s.callFunctionJson(id, 'spin', '1'), Timeout);
      }, { resourceLimits: { time: { callTimeoutMs: 200 } } });
    });
  });
}
