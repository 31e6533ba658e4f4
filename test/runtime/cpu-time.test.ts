/**
 * CPU time is the guest's own: while it is suspended in an async host function (JSPI in-process,
 * Atomics on a worker thread), whatever the host does meanwhile is not charged to it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asyncHostFunction } from '../../src/communication/async-host-function.ts';
import { InvalidModule } from '../../src/errors.ts';
import { WasmSandbox } from '../../src/sandbox/wasm-sandbox.ts';
import { wat } from '../helpers/wat.ts';

/** Spends `ms` of this thread's CPU time. */
function burn(ms: number): void {
  const start = process.threadCpuUsage();
  for (;;) {
    const now = process.threadCpuUsage();
    if ((now.user + now.system - start.user - start.system) / 1000 >= ms) return;
  }
}

const SOURCE = `(module
  (import "env" "pause" (func $pause))
  (func $spin (param $n i32) (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
  (func (export "run") (call $spin (i32.const 300000)) (call $pause) (call $spin (i32.const 300000))))`;

for (const runtime of ['inprocess', 'worker'] as const) {
  test(`${runtime}: host work during an async host call is not the guest's CPU time`, async () => {
    const sandbox = await WasmSandbox.create({ runtime });
    try {
      const mod = await sandbox.loadModule(await wat(SOURCE));
      // The host function's promise settles only after 400 ms of unrelated work on the host's thread.
      const pause = asyncHostFunction(() => new Promise<void>((resolve) => setImmediate(() => {
        burn(400);
        resolve();
      })));
      const id = await sandbox.createInstance(mod, {
        hostFunctions: { env: { pause } },
        capabilities: { hostFunctions: ['env.pause'] },
        resourceLimits: { cpu: { maxCpuTimeMs: 100 }, time: { callTimeoutMs: 30_000 } },
      });
      await sandbox.callFunction(id, 'run', []);
      const { cpuTimeMs } = sandbox.getMetrics(id);
      assert.ok(cpuTimeMs < 400, `the guest was charged ${cpuTimeMs} ms`);
    } finally {
      await sandbox.close();
    }
  });
}

test('a LinkError names the import whose value does not fit', async () => {
  const sandbox = await WasmSandbox.create();
  try {
    const mod = await sandbox.loadModule(await wat('(module (import "env" "mem" (memory 2)))'));
    await assert.rejects(
      sandbox.createInstance(mod, { imports: { env: { mem: new WebAssembly.Memory({ initial: 1 }) } } }),
      (e: unknown) => e instanceof InvalidModule && /import 'env\.mem' \(memory\)/.test(e.message),
    );
  } finally {
    await sandbox.close();
  }
});
