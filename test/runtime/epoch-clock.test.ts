import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Capabilities, ResourceLimits, ResourceLimitExceeded, Timeout, WasmSandbox } from '../../src/index.ts';
import { inspect } from '../../src/module/inspect.ts';
import type { ResolvedInstanceConfig } from '../../src/runtime/types.ts';
import { WorkerRuntime } from '../../src/runtime/worker/worker-runtime.ts';
import { REQUEST_EVENT } from '../../src/runtime/worker/channel.ts';
import type { WorkerThread } from '../../src/runtime/worker/worker-thread.ts';
import { epochClock, tickerState } from '../../src/runtime/limits/epoch-clock.ts';
import { monotonicMs } from '../../src/runtime/monotonic.ts';

const LIMITS = readFileSync(new URL('../../fixtures/wat/limits.wasm', import.meta.url));
const ADD = readFileSync(new URL('../../fixtures/wat/add.wasm', import.meta.url));

/**
 * Waits for the ticker thread to reach a state, calling `meanwhile` (calls that keep it awake) between
 * looks; bounded, it asserts the state, never a duration.
 */
async function until(state: ReturnType<typeof tickerState>, meanwhile = () => {}): Promise<void> {
  for (let i = 0; i < 1000 && tickerState() !== state; i++) {
    meanwhile();
    await sleep(10);
  }
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
  await until('running', () => add(1, 1));
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
  await until('running', () => add(1, 1));
  await sandbox.close();
});

test('a looping guest is stopped by its call deadline', async () => {
  const sandbox = await WasmSandbox.create();
  const m = await sandbox.loadModule(LIMITS);
  // Once with the start read from the shared word (ticker running), once from the exact clock (asleep).
  const add = await addWithDeadline(sandbox);
  for (let i = 0; i < 200; i++) add(1, i);
  await until('running', () => add(1, 1));
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
    for (let i = 0; i < 1000 && tickerState() !== 'running'; i++) { add(1, i); await new Promise((r) => setTimeout(r, 10)); }
    process.stdout.write(tickerState());`;
  // The bound only keeps a broken run from hanging the suite; a passing run ends on its own.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, 'the process was kept alive');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'running');
});

test('on the worker runtime the thread stops its own guest at the call deadline and keeps serving', async () => {
  const runtime = new WorkerRuntime({}, { poolSize: 1 });
  try {
    const module = await runtime.compile(ADD, inspect(ADD));
    const config = (callTimeoutMs: number | null): ResolvedInstanceConfig => ({
      capabilities: Capabilities.from({}), resourceLimits: ResourceLimits.default().with({ time: { callTimeoutMs } }),
      hostFunctions: {}, imports: {}, wasi: {}, extism: {},
    });
    const looping = await module.instantiate('a', config(40));
    const thread = (looping as unknown as { thread: WorkerThread }).thread;
    const call = looping.call('loop_forever', []);
    // Hold this thread (and so its backstop timer) until the worker has answered by itself. The
    // bound only keeps a broken build from spinning forever.
    const until = monotonicMs() + 30_000;
    // The worker's first word after stopping its guest is the limit event it reports.
    while (thread.channel.turn() !== REQUEST_EVENT && monotonicMs() < until);
    assert.equal(thread.channel.turn(), REQUEST_EVENT);
    await assert.rejects(call, (err: unknown) => err instanceof Timeout && err.kind === 'call' && err.timeoutMs === 40);
    // Stopped by its own meter, not by terminating the thread: the thread is alive and serves the next instance.
    assert.equal(thread.dead, undefined);
    await looping.destroy();
    const next = await module.instantiate('b', config(null));
    assert.equal((next as unknown as { thread: WorkerThread }).thread, thread);
    assert.equal(await next.call('add', [2, 3]), 5);
    await next.destroy();
  } finally {
    await runtime.close();
  }
});
