/**
 * Worker runtime costs against the floor they are built on: a bare SharedArrayBuffer + Atomics round
 * trip between the main thread (Atomics.waitAsync) and a worker (Atomics.wait), measured in the same
 * run. Run alone with `node bench/run.ts worker`.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Timeout, WasmSandbox } from '../src/index.ts';
import { measure, report, type Measurement } from './harness.ts';

const ADD = readFileSync(new URL('../fixtures/wat/add.wasm', import.meta.url));

/** The floor: one int32 turn word that the worker flips back every time the main thread flips it. */
async function startPingPong(): Promise<{ roundTrips: (n: number) => Promise<void>; close: () => Promise<number> }> {
  const turn = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const t = new Int32Array(workerData);
     Atomics.store(t, 0, 2); Atomics.notify(t, 0);
     for (;;) { while (Atomics.load(t, 0) === 2) Atomics.wait(t, 0, 2); Atomics.store(t, 0, 2); Atomics.notify(t, 0); }`,
    { eval: true, workerData: turn.buffer },
  );
  const changed = async (from: number) => {
    while (Atomics.load(turn, 0) === from) {
      const w = Atomics.waitAsync(turn, 0, from);
      if (w.async) await w.value;
    }
  };
  await changed(0);
  return {
    roundTrips: async (n) => {
      for (let i = 0; i < n; i++) {
        Atomics.store(turn, 0, 1);
        Atomics.notify(turn, 0);
        await changed(1);
      }
    },
    close: () => worker.terminate(),
  };
}

async function interleaved(ops: number, rounds: number, cases: [string, (n: number) => Promise<void>][]): Promise<Measurement[]> {
  for (const [, run] of cases) await run(ops);
  const samples = cases.map((): number[] => []);
  for (let r = 0; r < rounds; r++) {
    for (let c = 0; c < cases.length; c++) {
      const start = process.hrtime.bigint();
      await cases[c][1](ops);
      samples[c].push(Number(process.hrtime.bigint() - start) / ops);
    }
  }
  return cases.map(([name], c) => ({ name, nsPerOp: samples[c].sort((a, b) => a - b)[Math.floor(rounds / 2)] }));
}

export default async function workerBench(): Promise<void> {
  const N = 20_000;
  const pingPong = await startPingPong();
  const sandbox = await WasmSandbox.create({ runtime: 'worker' });
  const moduleId = await sandbox.loadModule(ADD);
  const instanceId = await sandbox.createInstance(moduleId);
  const add = sandbox.getFunction<[number, number], number>(instanceId, 'add');
  const add64 = sandbox.getFunction<[bigint, bigint], bigint>(instanceId, 'add64');
  // The pool starts a spare thread in the background; on a small machine it would share the CPU with the measurements.
  await new Promise((resolve) => setTimeout(resolve, 1500));

  // Rounds of the four cases alternate, so that load on a small shared machine (which makes thread
  // wake-ups bimodal) hits the floor and the calls alike.
  const [raw, addCall, add64Call, viaFacade] = await interleaved(N, 9, [
    ['raw Atomics round trip', (n) => pingPong.roundTrips(n)],
    ['add(i32, i32)', async (n) => { for (let i = 0; i < n; i++) await add(i, 1); }],
    ['add64(i64, i64)', async (n) => { for (let i = 0; i < n; i++) await add64(BigInt(i), 1n); }],
    ['callFunction add', async (n) => { for (let i = 0; i < n; i++) await sandbox.callFunction(instanceId, 'add', [i, 1]); }],
  ]);

  // Instance creation from a warm pool (the thread is started ahead) and with a thread start each time.
  const create = await measure('createInstance + destroyInstance (warm pool)', async (n) => {
    for (let i = 0; i < n; i++) await sandbox.destroyInstance(await sandbox.createInstance(moduleId));
  }, { ops: 20, rounds: 5, warmupRounds: 1 });

  // Short-lived instances, one at a time and ten at a time, on a pool of one: concurrency must not
  // cost more per instance (a pool that starts or stops a thread per instance collapses here).
  const cycle = async (i: number) => {
    const id = await sandbox.createInstance(moduleId);
    await sandbox.callFunction(id, 'add', [i, 1]);
    await sandbox.destroyInstance(id);
  };
  const [oneAtATime, tenAtATime] = await interleaved(200, 5, [
    ['one at a time', async (n) => { for (let i = 0; i < n; i++) await cycle(i); }],
    ['10 at a time', async (n) => {
      await Promise.all(Array.from({ length: 10 }, async () => { for (let i = 0; i < n / 10; i++) await cycle(i); }));
    }],
  ]);

  // Stop latency: how long past the deadline an infinite loop keeps the caller waiting.
  const latencies: number[] = [];
  for (let attempt = 0; latencies.length < 5 && attempt < 20; attempt++) {
    let id: string;
    try {
      id = await sandbox.createInstance(moduleId, { resourceLimits: { time: { callTimeoutMs: 20 } } });
    } catch (err) {
      // Instantiation runs under the same deadline; on a loaded machine it can miss it.
      if (err instanceof Timeout) continue;
      throw err;
    }
    const start = performance.now();
    try {
      await sandbox.callFunction(id, 'loop_forever', []);
    } catch (err) {
      if (!(err instanceof Timeout)) throw err;
    }
    latencies.push(performance.now() - start - 20);
    await sandbox.destroyInstance(id);
  }
  latencies.sort((a, b) => a - b);
  const stop: Measurement = { name: `stop latency past a 20 ms deadline (median of ${latencies.length}; stopped by the thread itself, or terminated)`, nsPerOp: latencies[Math.floor(latencies.length / 2)] * 1e6 };

  report('Worker runtime', [
    { what: 'call add(i32, i32), awaited', ours: addCall, baseline: raw, goal: '≤ 2×', meets: (r) => r <= 2 },
    { what: 'call add64(i64, i64), awaited', ours: add64Call, baseline: raw, goal: '≤ 2×', meets: (r) => r <= 2 },
    { what: 'sandbox.callFunction add', ours: viaFacade, baseline: raw, goal: '≤ 2×', meets: (r) => r <= 2 },
    { what: 'create + call + destroy, 10 at a time (per instance)', ours: tenAtATime, baseline: oneAtATime, goal: '≤ 1×', meets: (r) => r <= 1 },
  ], [create, stop]);

  await sandbox.close();
  await pingPong.close();
}
