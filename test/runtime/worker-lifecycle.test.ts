/**
 * After a deadline no guest code runs anywhere: the worker thread is terminated even when the guest
 * spins in bulk instructions (where V8 does not stop a loop at its back edge), and the process can
 * exit on its own. Also: fuel is counted on a thread as it is in-process, limit or not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ResourceLimits } from '../../src/security/resource-limits.ts';
import { WasmSandbox } from '../../src/sandbox/wasm-sandbox.ts';
import { wat } from '../helpers/wat.ts';

const BULK = fileURLToPath(new URL('../../fixtures/hostile/bulk_loops.wasm', import.meta.url));

function script(close: boolean): string {
  return `
import { readFileSync } from 'node:fs';
import { WasmSandbox } from ${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)};
const sandbox = await WasmSandbox.create({ runtime: 'worker' });
const id = await sandbox.createInstance(await sandbox.loadModule(readFileSync(${JSON.stringify(BULK)})), { resourceLimits: { time: { callTimeoutMs: 200 } } });
try {
  await sandbox.callFunction(id, 'fill_loop', []);
  console.log('returned');
} catch (err) {
  console.log(err.code);
}
${close ? 'await sandbox.close();' : ''}
`;
}

/** Runs the script in a child node and resolves with its exit code and output once it exits by itself. */
function runChild(source: string): Promise<{ code: number | null; signal: string | null; stdout: string; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    // Only a safety net so that a regression fails the test instead of hanging it; not a timing assertion.
    const safety = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(safety);
      resolve({ code, signal, stdout, killed });
    });
  });
}

for (const close of [true, false]) {
  test(`a worker guest looping in 256 MiB fills times out and the process exits on its own (${close ? 'after close()' : 'without close()'})`, async () => {
    const result = await runChild(script(close));
    assert.equal(result.killed, false, 'the process did not exit by itself');
    assert.equal(result.stdout.trim(), 'TIMEOUT');
    assert.equal(result.code, 0);
  });
}

test('worker runtime: fuel is counted without a fuel limit, as in-process', async () => {
  const counting = await wat(`(module (func (export "count") (param $n i32) (result i32) (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i)))`);
  for (const runtime of ['inprocess', 'worker'] as const) {
    const sandbox = await WasmSandbox.create({ runtime });
    try {
      const mod = await sandbox.loadModule(counting);
      const consumed: number[] = [];
      for (const resourceLimits of [ResourceLimits.default(), ResourceLimits.unlimited().with({ time: { callTimeoutMs: 10_000 } })]) {
        const id = await sandbox.createInstance(mod, { resourceLimits });
        assert.equal(await sandbox.callFunction(id, 'count', [1000]), 1000);
        consumed.push(sandbox.getMetrics(id).fuelConsumed);
      }
      assert.ok(consumed.every((f) => f > 1000), `${runtime}: ${consumed.join(', ')}`);
      assert.equal(consumed[0], consumed[1], `${runtime}: the same call costs the same fuel`);
    } finally {
      await sandbox.close();
    }
  }
});
