import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ResourceLimits, ResourceLimitExceeded, Timeout, WasmSandbox } from '../../src/index.ts';
import { epochClock, tickerState } from '../../src/runtime/limits/epoch-clock.ts';
import { monotonicMs } from '../../src/runtime/monotonic.ts';

const LIMITS = readFileSync(new URL('../../fixtures/wat/limits.wasm', import.meta.url));
const ADD = readFileSync(new URL('../../fixtures/wat/add.wasm', import.meta.url));

/** Waits for the ticker thread to reach a state; bounded, it asserts the state, never a duration. */
async function until(state: ReturnType<typeof tickerState>): Promise<void> {
  for (let i = 0; i < 500 && tickerState() !== state; i++) await sleep(10);
  assert.equal(tickerState(), state);
}

async function addWithDeadline(sandbox: WasmSandbox) {
  const m = await sandbox.loadModule(ADD);
  return sandbox.getFunction<[number, number], number>(await sandbox.createInstance(m, { resourceLimits: ResourceLimits.default() }), 'add').sync!;
}

test('calls with a deadline start the ticker, which refreshes the shared clock word; it sleeps once no call is made', async () => {
  const sandbox = await WasmSandbox.create();
  const add = await addWithDeadline(sandbox);
  // A few calls read the exact clock: a thread is not worth starting for them.
  for (let i = 0; i < 10; i++) assert.equal(add(2, i), 2 + i);
  assert.equal(tickerState(), 'none');
  for (let i = 0; i < 200; i++) add(1, i);
  await until('running');
  const first = epochClock[0];
  assert.ok(first > 0);
  // Calls keep it awake and the word follows the exact clock.
  for (let i = 0; i < 20 && epochClock[0] === first; i++) {
    add(1, 1);
    await sleep(5);
  }
  assert.ok(epochClock[0] > first);
  assert.ok(epochClock[0] <= monotonicMs());
  // No calls: it sleeps without a timeout and the word says it is not fresh.
  await until('idle');
  assert.equal(epochClock[0], 0);
  // The next call reads the exact clock and wakes it.
  assert.equal(add(4, 5), 9);
  await until('running');
  await sandbox.close();
});

test('a looping guest is stopped by its call deadline', async () => {
  const sandbox = await WasmSandbox.create();
  const m = await sandbox.loadModule(LIMITS);
  // Once with the start read from the shared word (ticker running), once from the exact clock (asleep).
  const add = await addWithDeadline(sandbox);
  for (let i = 0; i < 200; i++) add(1, i);
  await until('running');
  for (const timeoutMs of [30, 60]) {
    const id = await sandbox.createInstance(m, { resourceLimits: { time: { callTimeoutMs: timeoutMs } } });
    await assert.rejects(sandbox.callFunction(id, 'forever', []), (err: unknown) => err instanceof Timeout && err.kind === 'call' && err.timeoutMs === timeoutMs);
  }
  await until('idle');
  const id = await sandbox.createInstance(m, { resourceLimits: { time: { callTimeoutMs: 30 } } });
  await assert.rejects(sandbox.callFunction(id, 'forever', []), (err: unknown) => err instanceof Timeout && err.kind === 'call');
  await sandbox.close();
});

test('lifetime and CPU-time limits still stop a guest with the epoch clock in use', async () => {
  const sandbox = await WasmSandbox.create();
  const m = await sandbox.loadModule(LIMITS);
  const cpu = await sandbox.createInstance(m, { resourceLimits: { cpu: { maxCpuTimeMs: 30 } } });
  await assert.rejects(sandbox.callFunction(cpu, 'forever', []), (err: unknown) => err instanceof ResourceLimitExceeded && err.limit === 'cpu-time');
  const life = await sandbox.createInstance(m, { resourceLimits: { time: { instanceLifetimeMs: 40, callTimeoutMs: 10_000 } } });
  await assert.rejects(sandbox.callFunction(life, 'forever', []), (err: unknown) => err instanceof Timeout && err.kind === 'instance-lifetime');
  await sandbox.close();
});

test('the ticker thread does not keep the process alive', () => {
  const entry = new URL('../../src/index.ts', import.meta.url).href;
  const code = `
    const { WasmSandbox } = await import(${JSON.stringify(entry)});
    const { tickerState } = await import(${JSON.stringify(new URL('../../src/runtime/limits/epoch-clock.ts', import.meta.url).href)});
    const bytes = (await import('node:fs')).readFileSync(${JSON.stringify(new URL('../../fixtures/wat/add.wasm', import.meta.url).pathname)});
    const sandbox = await WasmSandbox.create();
    const id = await sandbox.createInstance(await sandbox.loadModule(bytes));
    const add = sandbox.getFunction(id, 'add').sync;
    for (let i = 0; i < 200; i++) add(1, i);
    for (let i = 0; i < 500 && tickerState() !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    process.stdout.write(tickerState());`;
  // The bound only keeps a broken run from hanging the suite; a passing run ends on its own.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, 'the process was kept alive');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'running');
});
