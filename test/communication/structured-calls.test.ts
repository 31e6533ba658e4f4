import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from '@msgpack/msgpack';
import {
  FunctionNotFound, GuestError, InvalidArguments, ResourceLimitExceeded, decodeMsgpack, encodeMsgpack,
} from '../../src/index.ts';
import { RUNTIMES, withInstance } from './helpers.ts';

const GUESTS = ['c/structured.wasm', 'as/structured.wasm'];

for (const runtime of RUNTIMES) {
  for (const guest of GUESTS) {
    describe(`structured calls: ${guest} (${runtime})`, () => {
      test('callFunctionJson round-trips JSON text through a data function', async () => {
        await withInstance(runtime, guest, async (s, id) => {
          assert.deepEqual(s.listDataFunctions(id).filter((n) => ['echo', 'add', 'upper', 'fail'].includes(n)).sort(), ['add', 'echo', 'fail', 'upper']);
          assert.equal(await s.callFunctionJson(id, 'echo', '{"hello":"wörld","n":[1,2,3]}'), '{"hello":"wörld","n":[1,2,3]}');
          assert.equal(await s.callFunctionJson(id, 'upper', '"abc"'), '"ABC"');
          assert.equal(await s.callFunctionJson(id, 'add', '[40, 2]'), '42');
          assert.equal(await s.callFunctionJson(id, 'echo', '""'), '""');
        });
      });

      test('callFunction works on numeric and data exports alike', async () => {
        await withInstance(runtime, guest, async (s, id) => {
          assert.equal(await s.callFunction(id, 'add', [5, 3]), 8);
          assert.equal(await s.callFunction(id, 'mul', [5, 3]), 15);
          assert.deepEqual(await s.callFunction(id, 'echo', [1, 'two', { three: 3 }]), [1, 'two', { three: 3 }]);
          const add = s.getFunction<[number, number], number>(id, 'add');
          assert.equal(await add(20, 22), 42);
          assert.equal(add.sync, undefined, 'a data function has no synchronous handle');
        });
      });

      test('callFunctionMsgpack round-trips MessagePack, including 1 MB', async () => {
        await withInstance(runtime, guest, async (s, id) => {
          const value = { list: [1, 2, 3], nested: { ok: true }, text: 'hé' };
          assert.deepEqual(decode(await s.callFunctionMsgpack(id, 'echo', encode(value))), value);
          const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
          const back = decodeMsgpack(await s.callFunctionMsgpack(id, 'echo', encodeMsgpack(big))) as Uint8Array;
          assert.equal(back.length, big.length);
          assert.ok(Buffer.from(back).equals(Buffer.from(big)));
        });
      });

      test('an error report becomes a GuestError with the guest code, and the instance stays usable', async () => {
        await withInstance(runtime, guest, async (s, id) => {
          const err = await s.callFunctionJson(id, 'fail', '{}').catch((e: unknown) => e);
          assert.ok(err instanceof GuestError);
          assert.equal(err.code, 'GUEST_ERROR');
          assert.equal(err.guestCode, 'E_DENIED');
          assert.equal(err.functionName, 'fail');
          assert.match(err.message, /the guest says "no"/);
          const bad = await s.callFunction(id, 'add', ['x']).catch((e: unknown) => e);
          assert.ok(bad instanceof GuestError);
          assert.equal(bad.guestCode, 'BAD_INPUT');
          assert.equal(await s.callFunction(id, 'add', [1, 1]), 2);
        });
      });

      test('bad input from the caller: malformed JSON or MessagePack, unknown or numeric functions', async () => {
        await withInstance(runtime, guest, async (s, id) => {
          await assert.rejects(s.callFunctionJson(id, 'echo', '{"unterminated'), InvalidArguments);
          await assert.rejects(s.callFunctionJson(id, 'echo', ''), InvalidArguments);
          await assert.rejects(s.callFunctionJson(id, 'echo', 42 as unknown as string), InvalidArguments);
          await assert.rejects(s.callFunctionMsgpack(id, 'echo', Uint8Array.of(0xc1)), InvalidArguments);
          await assert.rejects(s.callFunctionMsgpack(id, 'echo', 'x' as unknown as Uint8Array), InvalidArguments);
          await assert.rejects(s.callFunction(id, 'echo', [10n]), InvalidArguments);
          const missing = await s.callFunctionJson(id, 'nope', '1').catch((e: unknown) => e);
          assert.ok(missing instanceof FunctionNotFound);
          assert.ok(missing.available.includes('echo'));
          const numeric = await s.callFunctionJson(id, 'mul', '[1,2]').catch((e: unknown) => e);
          assert.ok(numeric instanceof FunctionNotFound);
          assert.match(numeric.message, /'mul' is a numeric export/);
          assert.equal(await s.callFunctionJson(id, 'echo', '"still fine"'), '"still fine"');
        });
      });

      test('payloads over io.maxPayloadBytes are refused in both directions without harming the instance', async () => {
        await withInstance(runtime, guest, async (s, id) => {
          const input = await s.callFunctionJson(id, 'echo', JSON.stringify('x'.repeat(2000))).catch((e: unknown) => e);
          assert.ok(input instanceof ResourceLimitExceeded);
          assert.equal(input.limit, 'payload-bytes');
          assert.equal(input.max, 1024);
          await assert.rejects(s.callFunctionMsgpack(id, 'echo', encode(new Uint8Array(5000))), (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'payload-bytes');
          assert.equal(await s.callFunctionJson(id, 'echo', '"small"'), '"small"');
        }, { resourceLimits: { io: { maxPayloadBytes: 1024 } } });
      });
    });
  }

  describe(`structured calls: C-only cases (${runtime})`, () => {
    test('a result over the payload limit is refused; an empty result is null', async () => {
      await withInstance(runtime, 'c/structured.wasm', async (s, id) => {
        assert.equal((await s.callFunction(id, 'big', [100]) as string).length, 100);
        const err = await s.callFunction(id, 'big', [5000]).catch((e: unknown) => e);
        assert.ok(err instanceof ResourceLimitExceeded);
        assert.equal(err.limit, 'payload-bytes');
        assert.equal(err.observed, 5002);
        assert.equal(await s.callFunctionJson(id, 'nothing', '{}'), 'null');
        assert.equal(await s.callFunction(id, 'nothing', []), undefined);
        assert.deepEqual(await s.callFunctionMsgpack(id, 'nothing', encode(1)), Uint8Array.of(0xc0));
        assert.equal(await s.callFunction(id, 'add', [2, 2]), 4, 'still usable');
      }, { resourceLimits: { io: { maxPayloadBytes: 4096 } } });
    });

    test('results larger than one worker transfer (64 KiB) arrive whole', async () => {
      await withInstance(runtime, 'c/structured.wasm', async (s, id) => {
        const out = await s.callFunction(id, 'big', [300_000]) as string;
        assert.equal(out.length, 300_000);
        const upper = await s.callFunctionBytes(id, 'upper', new Uint8Array(200_001).fill(97));
        assert.equal(upper.length, 200_001);
        assert.ok(upper.every((b) => b === 65));
      });
    });

    test('readMemory and writeMemory reach the exported memory, bounds-checked', async () => {
      await withInstance(runtime, 'c/structured.wasm', async (s, id) => {
        await s.writeMemory(id, 100_000, Uint8Array.of(1, 2, 3));
        assert.deepEqual(await s.readMemory(id, 100_000, 3), Uint8Array.of(1, 2, 3));
        // Larger than one worker transfer; the instance is not called again after this overwrite.
        const big = new Uint8Array(100_000).fill(9);
        await s.writeMemory(id, 1000, big);
        assert.ok((await s.readMemory(id, 1000, 100_000)).every((b) => b === 9));
        await assert.rejects(s.readMemory(id, 2 ** 31, 16), InvalidArguments);
        await assert.rejects(s.writeMemory(id, 2 ** 31, Uint8Array.of(1)), InvalidArguments);
        await assert.rejects(s.readMemory(id, -1, 1), InvalidArguments);
      });
    });
  });
}
