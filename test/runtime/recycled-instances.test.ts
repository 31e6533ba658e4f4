import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Capabilities, ResourceLimits, Trap, WasmSandbox } from '../../src/index.ts';
import { inspect } from '../../src/module/inspect.ts';
import { InProcessRuntime } from '../../src/runtime/inprocess/inprocess-runtime.ts';
import type { InProcessInstance } from '../../src/runtime/inprocess/inprocess-instance.ts';
import { recyclable } from '../../src/runtime/inprocess/recycled-slot.ts';
import type { ResolvedInstanceConfig } from '../../src/runtime/types.ts';
import { wat } from '../helpers/wat.ts';

const SECRET = readFileSync(new URL('../../fixtures/wat/wagi_secret.wasm', import.meta.url));
const LIMITS = readFileSync(new URL('../../fixtures/wat/limits.wasm', import.meta.url));
const ANSWER = /^Content-Type: text\/plain\n\n(clean|dirty) (\d)\n$/;

/** One use: runs `_start` with `body` on stdin and returns what it answered, whether the slot was reused, and how it ended. */
async function use(module: Awaited<ReturnType<InProcessRuntime['compile']>>, body: string, limits = ResourceLimits.default()) {
  let out = '';
  const config: ResolvedInstanceConfig = {
    capabilities: Capabilities.from({ stdio: { stdin: 'capture', stdout: 'null' } }),
    resourceLimits: limits,
    hostFunctions: {},
    imports: {},
    wasi: { stdin: body, onStdout: (chunk) => (out += Buffer.from(chunk).toString()) },
    extism: {},
    recycle: true,
  };
  const instance = (await module.instantiate('i', config)) as InProcessInstance;
  let error: unknown;
  try {
    await instance.runCommand();
  } catch (err) {
    error = err;
  }
  await instance.destroy();
  const m = ANSWER.exec(out);
  assert.ok(m, `unexpected answer ${JSON.stringify(out)}`);
  return { state: m[1], pages: Number(m[2]), reused: instance.reused, error };
}

for (const [what, limits] of [['default limits', ResourceLimits.default()], ['no limits', ResourceLimits.unlimited()]] as const) {
  test(`a recycled instance starts every use pristine: memory, globals and tables as after instantiation (${what})`, async () => {
    const module = await new InProcessRuntime().compile(SECRET, inspect(SECRET));
    // The first use leaves a marker in memory, a set global and a filled table slot behind.
    assert.deepEqual(await use(module, '', limits), { state: 'clean', pages: 2, reused: false, error: undefined });
    for (let i = 0; i < 3; i++) assert.deepEqual(await use(module, '', limits), { state: 'clean', pages: 2, reused: true, error: undefined });
  });
}

test('a use that grew its memory gives up its slot; a trap does not leave its secrets behind', async () => {
  const module = await new InProcessRuntime().compile(SECRET, inspect(SECRET));
  assert.equal((await use(module, 'g')).state, 'clean');
  // The grown slot was discarded: a new one, at the initial size.
  assert.deepEqual(await use(module, ''), { state: 'clean', pages: 2, reused: false, error: undefined });
  const trapped = await use(module, 't');
  assert.equal(trapped.reused, true);
  assert.ok(trapped.error instanceof Trap);
  assert.deepEqual(await use(module, ''), { state: 'clean', pages: 2, reused: true, error: undefined });
});

test('an instance stopped by a deadline is not recycled', async () => {
  const module = await new InProcessRuntime().compile(LIMITS, inspect(LIMITS));
  const config = (): ResolvedInstanceConfig => ({
    capabilities: Capabilities.from({}), resourceLimits: ResourceLimits.default().with({ time: { callTimeoutMs: 20 } }),
    hostFunctions: {}, imports: {}, wasi: {}, extism: {}, recycle: true,
  });
  const first = (await module.instantiate('a', config())) as InProcessInstance;
  await assert.rejects(first.call('forever', []));
  await first.destroy();
  const second = (await module.instantiate('b', config())) as InProcessInstance;
  assert.equal(second.reused, false);
  await second.destroy();
  const third = (await module.instantiate('c', config())) as InProcessInstance;
  assert.equal(third.reused, true);
  await third.destroy();
});

test('recycle is a boolean instance option', async () => {
  const sandbox = await WasmSandbox.create();
  const m = await sandbox.loadModule(SECRET);
  await assert.rejects(sandbox.createInstance(m, { recycle: 'yes' as unknown as boolean }), /recycle must be a boolean/);
  await sandbox.close();
});

test('only modules whose whole state the snapshot covers are recycled', async () => {
  const ok = async (source: string) => {
    const bytes = await wat(source);
    return recyclable(inspect(bytes), bytes);
  };
  assert.equal(recyclable(inspect(SECRET), SECRET), true);
  assert.equal(await ok('(module (memory 1) (func (export "_start")))'), true);
  // State outside the instance: a host function, an imported memory or global.
  assert.equal(await ok('(module (import "env" "f" (func)) (func (export "_start")))'), false);
  assert.equal(await ok('(module (import "env" "m" (memory 1)) (func (export "_start")))'), false);
  assert.equal(await ok('(module (import "env" "g" (global (mut i32))) (func (export "_start")))'), false);
  // A reactor's constructors ran with the first use's WASI host.
  assert.equal(await ok('(module (memory 1) (func (export "_initialize")) (func (export "run")))'), false);
  // A dropped segment cannot be restored.
  assert.equal(await ok('(module (memory 1) (data $d "x") (func (export "_start") (data.drop $d)))'), false);
  assert.equal(await ok('(module (table 1 funcref) (elem $e func $f) (func $f) (func (export "_start") (elem.drop $e)))'), false);
});
