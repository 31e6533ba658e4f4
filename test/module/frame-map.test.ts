import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WASI } from 'node:wasi';
import { Capabilities, ResourceLimits, Trap, WasmSandbox, type ResourceLimitsInit } from '../../src/index.ts';
import { instrument } from '../../src/module/instrument.ts';
import { CopyRecorder } from '../../src/module/frame-map.ts';
import { wat } from '../helpers/wat.ts';

const BACKTRACE = fileURLToPath(new URL('../../fixtures/wasi/backtrace.wasm', import.meta.url));
const bytes = new Uint8Array(readFileSync(BACKTRACE));

/** What V8 reports for the file as given, run by node:wasi: the reference the sandbox must match. */
async function nodeWasiFrames(): Promise<{ name: string; function: number; offset: number }[]> {
  const wasi = new WASI({ version: 'preview1', args: ['backtrace.wasm', 'trap'], returnOnExit: true, stdout: 2 });
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(bytes), wasi.getImportObject() as WebAssembly.Imports);
  try {
    wasi.start(instance);
  } catch (err) {
    return [...(err as Error).stack!.matchAll(/at (\S+) \(wasm:\/\/wasm\/[^:]+:wasm-function\[(\d+)\]:0x([0-9a-f]+)\)/g)]
      .map((m) => ({ name: m[1], function: Number(m[2]), offset: parseInt(m[3], 16) }));
  }
  throw new Error('the fixture did not trap');
}

async function sandboxTrap(limits: ResourceLimitsInit | ResourceLimits, runtime: 'inprocess' | 'worker' = 'inprocess'): Promise<Trap> {
  const sandbox = await WasmSandbox.create({ runtime });
  try {
    const id = await sandbox.createInstance(await sandbox.loadModule(bytes), {
      capabilities: Capabilities.captured().withArgs(['trap']),
      resourceLimits: limits,
    });
    const err = await sandbox.runCommand(id).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof Trap, `expected a trap, got ${String(err)}`);
    return err;
  } finally {
    await sandbox.close();
  }
}

test('trap frames carry the guest\'s names and the original indices and offsets, however the module was instrumented', async () => {
  const reference = await nodeWasiFrames();
  assert.deepEqual(reference.slice(0, 3).map((f) => f.name), ['check_magic', 'read_field', 'parse_header']);
  const variants: [string, ResourceLimitsInit | ResourceLimits][] = [
    ['uninstrumented', ResourceLimits.unlimited()],
    ['memory clamp and grow routing', {}],
    ['deadline (metered)', { time: { callTimeoutMs: 10_000 } }],
    ['fuel (metered)', { cpu: { fuel: 1e9 } }],
  ];
  for (const [what, limits] of variants) {
    const trap = await sandboxTrap(limits);
    assert.equal(trap.kind, 'unreachable');
    assert.deepEqual(trap.frames.map((f) => ({ name: f.name, function: f.function, offset: f.offset })), reference, what);
    assert.match(trap.wasmStack[0], /^check_magic \(wasm-function\[\d+\]:0x[0-9a-f]+\)$/, what);
  }
  // The innermost frame is the trapping instruction itself, in the file as given.
  assert.equal(bytes[reference[0].offset], 0x00, 'unreachable opcode');
});

test('trap frames from a worker thread are mapped back the same way', async () => {
  const reference = await nodeWasiFrames();
  const trap = await sandboxTrap({ time: { callTimeoutMs: 10_000 }, cpu: { fuel: 1e9 } }, 'worker');
  assert.deepEqual(trap.frames.map((f) => ({ name: f.name, function: f.function, offset: f.offset })), reference);
});

test('the name section survives instrumentation, renumbered past the sandbox\'s imports', async () => {
  const source = await wat(`(module
    (import "env" "f" (func $imported))
    (func $first (export "first") call $second)
    (func $second unreachable))`, { names: true });
  const out = instrument(source, { meter: true, routeMemoryGrow: false });
  const module = await WebAssembly.compile(out.bytes as Uint8Array<ArrayBuffer>);
  assert.equal(WebAssembly.Module.customSections(module, 'name').length, 1);
  const instance = new WebAssembly.Instance(module, { env: { f: () => {} }, wasm_sandbox: { out_of_fuel: () => {} } });
  (instance.exports.__wasm_sandbox_fuel as WebAssembly.Global).value = 1000n;
  const stack = (() => {
    try {
      (instance.exports.first as () => void)();
    } catch (err) {
      return (err as Error).stack!;
    }
    return '';
  })();
  // Indices as compiled: one import added before the guest's functions, so $second is 3, not 2.
  assert.match(stack, /at second \(wasm:\/\/wasm\/[^:]+:wasm-function\[3\]/);
  assert.match(stack, /at first \(wasm:\/\/wasm\/[^:]+:wasm-function\[2\]/);
});

test('a copy recorder maps injected code to the guest instruction it precedes', async () => {
  const source = await wat('(module (func (export "f") (result i32) i32.const 7))');
  const recorder = new CopyRecorder();
  const out = instrument(source, { meter: true, routeMemoryGrow: false }, recorder).bytes;
  const map = recorder.finish();
  // The function's only instruction, `i32.const 7`, in both binaries.
  const inAt = source.findIndex((b, i) => b === 0x41 && source[i + 1] === 0x07);
  const outAt = out.findLastIndex((b, i) => b === 0x41 && out[i + 1] === 0x07);
  assert.ok(inAt > 0 && outAt > inAt);
  assert.equal(map.offset(outAt), inAt);
  // The fuel check injected before it maps to it as well, and the counter's spill after it to the `end` it precedes.
  assert.equal(map.offset(outAt - 3), inAt);
  assert.equal(map.offset(outAt + 3), inAt + 2);
  assert.equal(map.func(0 + 1), 0, 'the defined function, behind the added import');
  assert.equal(map.func(2), null, 'the sandbox\'s refuel function');
});

test('a malformed name section is dropped, not fatal', async () => {
  const source = await wat('(module (func (export "f")))');
  // A custom section named "name" holding garbage.
  const garbage = new Uint8Array([0x00, 0x07, 0x04, ...new TextEncoder().encode('name'), 0x01, 0xff]);
  const withNames = new Uint8Array([...source, ...garbage]);
  const out = instrument(withNames, { meter: true, routeMemoryGrow: false }).bytes;
  const module = await WebAssembly.compile(out as Uint8Array<ArrayBuffer>);
  assert.equal(WebAssembly.Module.customSections(module, 'name').length, 0);
});
