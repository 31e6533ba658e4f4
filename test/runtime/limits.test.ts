import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  WasmSandbox, ResourceLimits, ResourceLimitExceeded, Timeout, InstanceUnusable, InvalidArguments, loadPolicy,
  type ResourceLimitsInit,
} from '../../src/index.ts';

const LIMITS = readFileSync(new URL('../../fixtures/wat/limits.wasm', import.meta.url));
const PAGE = 65536;

async function instance(limits: ResourceLimitsInit | ResourceLimits, bytes: Uint8Array = LIMITS) {
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(bytes);
  const id = await sandbox.createInstance(moduleId, { resourceLimits: limits });
  return { sandbox, id, moduleId };
}

function limitError(limit: string, max?: number, observed?: number) {
  return (err: unknown) => {
    assert.ok(err instanceof ResourceLimitExceeded, `expected ResourceLimitExceeded, got ${String(err)}`);
    assert.equal(err.limit, limit);
    if (max !== undefined) assert.equal(err.max, max);
    if (observed !== undefined) assert.equal(err.observed, observed);
    return true;
  };
}

test('initial memory over the limit fails createInstance with ResourceLimitExceeded', async () => {
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(LIMITS);
  await assert.rejects(sandbox.createInstance(moduleId, { resourceLimits: { memory: { maxMemoryPages: 0 } } }), limitError('memory', 0, PAGE));
  await sandbox.close();
});

test('memory.grow past the limit returns -1; growing right up to the limit succeeds', async () => {
  const { sandbox, id } = await instance({ memory: { maxMemoryBytes: '1MiB' } });
  const events: unknown[] = [];
  sandbox.on('limit', (e) => events.push(e.error));
  assert.equal(await sandbox.callFunction(id, 'grow', [15]), 1, 'to exactly 16 pages = 1 MiB');
  assert.equal(await sandbox.callFunction(id, 'grow', [1]), -1, 'one page more is refused');
  assert.equal(await sandbox.callFunction(id, 'grow', [0]), 16, 'grow(0) still answers the size');
  assert.equal(sandbox.getMetrics(id).memoryBytes, 16 * PAGE);
  assert.equal(events.length, 1, 'the refusal is reported as a limit event');
  assert.ok(events[0] instanceof ResourceLimitExceeded);
  assert.equal(await sandbox.callFunction(id, 'spin', [10]), 45, 'a refused grow leaves the instance usable');
  await sandbox.close();
});

test('a memory bomb is capped at the limit and the host stays well', async () => {
  const rssBefore = process.memoryUsage().rss;
  const { sandbox, id } = await instance({ memory: { maxMemoryBytes: '32MiB' } });
  assert.equal(await sandbox.callFunction(id, 'bomb', []), 512);
  const m = sandbox.getMetrics(id);
  assert.equal(m.memoryBytes, 32 * 1024 * 1024);
  assert.equal(m.peakMemoryBytes, 32 * 1024 * 1024);
  await sandbox.close();
  assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'host memory grew by far less than an unbounded bomb would take');
});

test('trapOnGrowFailure traps instead of returning -1, and the limit names max and observed', async () => {
  const { sandbox, id } = await instance({ memory: { maxMemoryPages: 4, trapOnGrowFailure: true } });
  assert.equal(await sandbox.callFunction(id, 'grow', [3]), 1);
  await assert.rejects(sandbox.callFunction(id, 'grow', [2]), limitError('memory', 4 * PAGE, 6 * PAGE));
  await sandbox.close();
});

test('maxGrowthRatePagesPerSec refuses growth faster than the rate', async () => {
  const { sandbox, id } = await instance({ memory: { maxGrowthRatePagesPerSec: 8 } });
  assert.equal(await sandbox.callFunction(id, 'grow', [5]), 1);
  assert.equal(await sandbox.callFunction(id, 'grow', [5]), -1, '10 pages within one second is over 8/s');
  assert.equal(await sandbox.callFunction(id, 'grow', [3]), 6, 'the rest of the allowance is still there');
  await sandbox.close();
});

test('an imported memory larger than the limit is refused', async () => {
  const wat = readFileSync(new URL('../../fixtures/wat/imports.wasm', import.meta.url));
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(wat);
  await assert.rejects(
    sandbox.createInstance(moduleId, {
      capabilities: { hostFunctions: ['env.*', 'host.*'] },
      hostFunctions: { env: { log: () => {} }, host: { now: () => 0 } },
      imports: { env: { mem: new WebAssembly.Memory({ initial: 32 }), g: new WebAssembly.Global({ value: 'i32' }, 0), tbl: new WebAssembly.Table({ initial: 1, element: 'anyfunc' }) } },
      resourceLimits: { memory: { maxMemoryBytes: '1MiB' } },
    }),
    limitError('memory', 16 * PAGE, 32 * PAGE),
  );
  await sandbox.close();
});

test('fuel: exhaustion traps with the fuel limit; consumption is deterministic; getFuel/addFuel', async () => {
  const run = async () => {
    const { sandbox, id } = await instance({ cpu: { fuel: 1_000_000 } });
    assert.equal(await sandbox.callFunction(id, 'spin', [1000]), 499500);
    const used = sandbox.getMetrics(id).fuelConsumed;
    assert.equal(sandbox.getFuel(id), 1_000_000 - used);
    await sandbox.close();
    return used;
  };
  const a = await run();
  const b = await run();
  assert.ok(a > 1000, `a 1000-iteration loop costs at least one unit per iteration (used ${a})`);
  assert.equal(a, b, 'the same call costs the same fuel');

  const { sandbox, id } = await instance({ cpu: { fuel: 50_000 } });
  await assert.rejects(sandbox.callFunction(id, 'forever', []), (err: unknown) => {
    assert.ok(err instanceof ResourceLimitExceeded && err.limit === 'fuel' && err.max === 50_000 && err.observed > 50_000);
    return true;
  });
  assert.equal(sandbox.getFuel(id), 0);
  await assert.rejects(sandbox.callFunction(id, 'spin', [100]), limitError('fuel'));
  sandbox.addFuel(id, 100_000);
  assert.equal(await sandbox.callFunction(id, 'spin', [100]), 4950, 'added fuel lets the instance run again');
  assert.throws(() => sandbox.addFuel(id, -1), InvalidArguments);
  await sandbox.close();

  const unmetered = await instance(ResourceLimits.unlimited());
  assert.equal(unmetered.sandbox.getFuel(unmetered.id), null);
  assert.throws(() => unmetered.sandbox.addFuel(unmetered.id, 10), InvalidArguments);
  await unmetered.sandbox.close();
});

test('callTimeoutMs stops an infinite loop that makes no host calls, in-process; the instance is then unusable', async () => {
  const { sandbox, id, moduleId } = await instance({ time: { callTimeoutMs: 100 } });
  const started = performance.now();
  await assert.rejects(sandbox.callFunction(id, 'forever', []), (err: unknown) => {
    assert.ok(err instanceof Timeout, String(err));
    assert.equal(err.kind, 'call');
    assert.equal(err.timeoutMs, 100);
    return true;
  });
  const elapsed = performance.now() - started;
  // The stop latency itself is measured by the limits benchmark, not asserted here.
  assert.ok(elapsed >= 100, `stopped only after the deadline (${elapsed} ms)`);
  await assert.rejects(sandbox.callFunction(id, 'spin', [1]), InstanceUnusable);
  const fresh = await sandbox.createInstance(moduleId, { resourceLimits: { time: { callTimeoutMs: 100 } } });
  assert.equal(await sandbox.callFunction(fresh, 'spin', [4]), 6, 'a recreated instance works');
  // Each call has its own deadline: many short calls add up past it without tripping it.
  for (let i = 0; i < 5; i++) await sandbox.callFunction(fresh, 'spin', [100_000]);
  await sandbox.close();
});

test('instanceLifetimeMs ends the instance, also between calls', async () => {
  const { sandbox, id } = await instance({ time: { instanceLifetimeMs: 150, callTimeoutMs: null } });
  assert.equal(await sandbox.callFunction(id, 'spin', [3]), 3);
  await assert.rejects(sandbox.callFunction(id, 'forever', []), (err: unknown) => err instanceof Timeout && err.kind === 'instance-lifetime');
  await assert.rejects(sandbox.callFunction(id, 'spin', [3]), InstanceUnusable);
  const idle = await sandbox.createInstance(sandbox.listModules()[0].id, { resourceLimits: { time: { instanceLifetimeMs: 50 } } });
  await new Promise((r) => setTimeout(r, 80));
  await assert.rejects(sandbox.callFunction(idle, 'spin', [3]), (err: unknown) => err instanceof Timeout && err.kind === 'instance-lifetime', 'a short call after the lifetime passed while idle');
  await sandbox.close();
});

test('maxCpuTimeMs stops a guest by CPU time', async () => {
  const { sandbox, id } = await instance({ cpu: { maxCpuTimeMs: 50 }, time: { callTimeoutMs: null } });
  await assert.rejects(sandbox.callFunction(id, 'forever', []), limitError('cpu-time', 50));
  assert.ok(sandbox.getMetrics(id).cpuTimeMs >= 50);
  await sandbox.close();
});

test('limits from a policy file behave exactly like limits set in code', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'limits-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, 'resourceLimits:\n  memory: { maxMemoryBytes: 1MiB }\n  cpu: { fuel: 200000 }\n');
  const fromFile = loadPolicy(file).resourceLimits;
  const fromCode = ResourceLimits.from({ memory: { maxMemoryBytes: 1024 * 1024 }, cpu: { fuel: 200_000 } });
  const outcome = async (limits: ResourceLimits) => {
    const { sandbox, id } = await instance(limits);
    const result = {
      grow: await sandbox.callFunction(id, 'grow', [20]),
      bomb: await sandbox.callFunction(id, 'bomb', []),
      fuel: await sandbox.callFunction(id, 'forever', []).catch((e: ResourceLimitExceeded) => `${e.limit} ${e.max} ${e.observed}`),
    };
    await sandbox.close();
    return result;
  };
  const a = await outcome(fromFile);
  assert.deepEqual(a, await outcome(fromCode));
  assert.equal(a.grow, -1);
  assert.equal(a.bomb, 16);
});

test('deep recursion is a stack-overflow Trap and the host keeps going', async () => {
  const add = readFileSync(new URL('../../fixtures/wat/add.wasm', import.meta.url));
  const { sandbox, id } = await instance({ cpu: { fuel: 1e9 } }, add);
  await assert.rejects(sandbox.callFunction(id, 'recurse', [0]), (err: unknown) => (err as { kind?: string }).kind === 'stack-overflow');
  assert.equal(await sandbox.callFunction(id, 'add', [2, 2]), 4);
  await sandbox.close();
});

test('a start function that never returns is stopped by the deadline', async () => {
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(readFileSync(new URL('../../fixtures/wat/start_loop.wasm', import.meta.url)));
  await assert.rejects(sandbox.createInstance(moduleId, { resourceLimits: { time: { callTimeoutMs: 50 } } }), Timeout);
  await sandbox.close();
});

test('table growth is limited like memory growth', async () => {
  const { sandbox, id } = await instance({ memory: { maxTableElements: 10 } });
  assert.equal(await sandbox.callFunction(id, 'table_grow', [9]), 1, 'up to exactly 10 elements');
  assert.equal(await sandbox.callFunction(id, 'table_grow', [1]), -1, 'one more is refused');
  await sandbox.close();
  const unlimited = await instance(ResourceLimits.unlimited());
  assert.equal(await unlimited.sandbox.callFunction(unlimited.id, 'table_grow', [1000]), 1);
  await unlimited.sandbox.close();
});

test('a denied WASI operation is reported as a violation event', async () => {
  const sandbox = await WasmSandbox.create();
  const violations: { capability: string; detail: string }[] = [];
  sandbox.on('violation', (v) => violations.push(v));
  const moduleId = await sandbox.loadModule(readFileSync(new URL('../../fixtures/wasi/hello.wasm', import.meta.url)));
  const id = await sandbox.createInstance(moduleId, { capabilities: { stdio: { stdout: 'capture', stderr: 'capture' }, clock: 'none', random: 'none' } });
  assert.equal(await sandbox.runCommand(id), 0);
  const cat = await sandbox.loadModule(readFileSync(new URL('../../fixtures/wasi/cat.wasm', import.meta.url)));
  const data = new URL('../../examples/data', import.meta.url).pathname;
  const catId = await sandbox.createInstance(cat, {
    capabilities: { args: ['/data/../../package.json'], filesystem: [{ hostPath: data, guestPath: '/data', mode: 'read' }], stdio: { stdout: 'capture', stderr: 'capture' }, exit: true },
  });
  assert.equal(await sandbox.runCommand(catId), 1);
  assert.ok(violations.some((v) => v.capability === 'filesystem'), JSON.stringify(violations));
  await sandbox.close();
});
