import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import createPlugin from '@extism/extism';
import {
  AbiViolation, GuestError, InstanceUnusable, InvalidArguments, ResourceLimitExceeded, SecurityViolation, WasmSandbox, type ExtismLogLevel,
} from '../../src/index.ts';
import { RUNTIMES, fixture, text, utf8, withInstance } from './helpers.ts';

const PLUGIN = 'wat/extism_plugin.wasm';

test('the fixture is a real Extism plugin: the Extism JS SDK runs it with the same results', async () => {
  const plugin = await createPlugin({ wasm: [{ data: fixture(PLUGIN) }] }, { useWasi: false, runInWorker: false, config: { greeting: 'hi' } });
  try {
    assert.equal((await plugin.call('echo', '{"a":1}'))!.text(), '{"a":1}');
    assert.equal((await plugin.call('greet', ''))!.text(), 'hi');
    await assert.rejects(plugin.call('fail', ''), /boom/);
  } finally {
    await plugin.close();
  }
});

for (const runtime of RUNTIMES) {
  describe(`Extism plugins (${runtime})`, () => {
    test('its functions are data functions: JSON, MessagePack and callFunction reach them', async () => {
      await withInstance(runtime, PLUGIN, async (s, id) => {
        assert.ok(s.listDataFunctions(id).includes('echo'));
        assert.equal(await s.callFunctionJson(id, 'echo', '{"hello":"plugin"}'), '{"hello":"plugin"}');
        assert.equal(await s.callFunctionJson(id, 'echo', '"odd-length!"'), '"odd-length!"');
        assert.deepEqual(await s.callFunction(id, 'echo', [1, 2, 3]), [1, 2, 3]);
        assert.deepEqual(await s.callFunctionMsgpack(id, 'echo', Uint8Array.of(0x92, 1, 2)), Uint8Array.of(0x92, 1, 2));
        assert.equal(await s.callFunction(id, 'input_via_handle', ['abc']), 7, 'input_offset and length address the input block');
      });
    });

    test('config, variables across calls, and logs filtered by level', async () => {
      const logs: [ExtismLogLevel, string][] = [];
      await withInstance(runtime, PLUGIN, async (s, id) => {
        assert.equal(text(await s.callFunctionBytes(id, 'greet', new Uint8Array())), 'hello, plugin');
        assert.deepEqual([await s.callFunction(id, 'count'), await s.callFunction(id, 'count'), await s.callFunction(id, 'count')], [1, 2, 3]);
        await s.callFunctionBytes(id, 'log', utf8('a line'));
        assert.deepEqual(logs, [['warn', 'a line'], ['error', 'a line']]);
      }, { extism: { config: { greeting: 'hello, plugin' }, logLevel: 'warn', onLog: (level, message) => logs.push([level, message]) } });
      await withInstance(runtime, PLUGIN, async (s, id) => {
        assert.equal((await s.callFunctionBytes(id, 'greet', new Uint8Array())).length, 0, 'unset config is empty');
        await s.callFunctionBytes(id, 'log', utf8('dropped'));
      });
    });

    test('plugin errors are GuestErrors; the plugin may not reach the network', async () => {
      await withInstance(runtime, PLUGIN, async (s, id) => {
        const fail = await s.callFunctionJson(id, 'fail', '1').catch((e: unknown) => e);
        assert.ok(fail instanceof GuestError);
        assert.match(fail.message, /boom/);
        await assert.rejects(s.callFunctionJson(id, 'fail_silently', '1'), /plugin function returned 7/);
        const http = await s.callFunctionJson(id, 'http', '1').catch((e: unknown) => e);
        assert.ok(http instanceof SecurityViolation);
        assert.equal(http.capability, 'network');
        assert.equal(await s.callFunctionJson(id, 'echo', '1'), '1');
      });
    });

    test('garbage handles, reads past the input and overlong outputs are AbiViolations', async () => {
      await withInstance(runtime, PLUGIN, async (s, id) => {
        for (const [name, pattern] of [
          ['bad_output', /output_set at 0xdead00000000/],
          ['bad_load', /load_u64 at 0x3039/],
          ['past_input', /input_load_u8 at input offset 1 \(1 bytes\) is outside the 1-byte input/],
          ['overflow_block', /store_u64 at 0x200000000 \(8 bytes\)/],
          ['huge_alloc', /at most 4 GiB/],
          ['long_output', /output_set .* \(5 bytes\)/],
          ['freed_output', /freed before the call returned/],
        ] as const) {
          const err = await s.callFunctionJson(id, name, '1').catch((e: unknown) => e);
          assert.ok(err instanceof AbiViolation, `${name}: ${String(err)}`);
          assert.match(err.message, pattern);
        }
        assert.equal(await s.callFunctionJson(id, 'echo', '"usable"'), '"usable"');
      });
    });

    test('plugin memory counts against the memory limit', async () => {
      await withInstance(runtime, PLUGIN, async (s, id) => {
        const err = await s.callFunctionJson(id, 'hog', '1').catch((e: unknown) => e);
        assert.ok(err instanceof ResourceLimitExceeded);
        assert.equal(err.limit, 'memory');
        assert.match(err.message, /Extism plugin memory/);
        await assert.rejects(s.callFunctionJson(id, 'echo', '1'), InstanceUnusable);
      }, { resourceLimits: { memory: { maxMemoryBytes: '4MiB' } } });
    });

    test('payload limits apply to plugin input and output', async () => {
      await withInstance(runtime, PLUGIN, async (s, id) => {
        const err = await s.callFunctionJson(id, 'echo', JSON.stringify('y'.repeat(100))).catch((e: unknown) => e);
        assert.ok(err instanceof ResourceLimitExceeded);
        assert.equal(err.limit, 'payload-bytes');
        assert.equal(await s.callFunctionJson(id, 'echo', '"short"'), '"short"');
      }, { resourceLimits: { io: { maxPayloadBytes: 64 } } });
    });
  });
}

test('Extism calls keep working past 16,383 calls (blocks are reclaimed per call)', async () => {
  await withInstance('inprocess', PLUGIN, async (s, id) => {
    for (let i = 0; i < 20_000; i++) await s.callFunctionJson(id, 'echo', '"again"');
    assert.equal(await s.callFunction(id, 'count'), 1);
  });
});

test('extism options are validated', async () => {
  const s = await WasmSandbox.create();
  try {
    const m = await s.loadModule(fixture(PLUGIN));
    await assert.rejects(s.createInstance(m, { extism: { config: { a: 1 as unknown as string } } }), InvalidArguments);
    await assert.rejects(s.createInstance(m, { extism: { logLevel: 'loud' as 'info' } }), InvalidArguments);
    await assert.rejects(s.createInstance(m, { extism: { onLog: 'x' as unknown as () => void } }), InvalidArguments);
  } finally {
    await s.close();
  }
});
