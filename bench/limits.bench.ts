import { readFileSync } from 'node:fs';
import { ResourceLimits, Timeout, WasmSandbox } from '../src/index.ts';
import { measure, report, type Measurement } from './harness.ts';

const SHA = readFileSync(new URL('../fixtures/c/sha256.wasm', import.meta.url));
const ADD = readFileSync(new URL('../fixtures/wat/add.wasm', import.meta.url));
const LIMITS = readFileSync(new URL('../fixtures/wat/limits.wasm', import.meta.url));
const TEN_MB = 10 * 1024 * 1024;

export default async function limitsBench(): Promise<void> {
  const sandbox = await WasmSandbox.create();

  // Fuel overhead on a compute kernel: the same module raw, and instrumented with a fuel budget.
  const raw = new WebAssembly.Instance(new WebAssembly.Module(SHA), {}).exports as Record<string, (...a: number[]) => number>;
  raw._initialize();
  raw.prepare(TEN_MB);
  const sha = await sandbox.loadModule(SHA);
  const fueled = await sandbox.createInstance(sha, { resourceLimits: ResourceLimits.unlimited().with({ cpu: { fuel: Number.MAX_SAFE_INTEGER } }) });
  await sandbox.callFunction(fueled, 'prepare', [TEN_MB]);
  const fuelHash = sandbox.getFunction<[], number>(fueled, 'sha256').sync!;
  if (fuelHash() !== raw.sha256()) throw new Error('instrumented kernel disagrees with the original');
  const rawSha = await measure('raw V8', () => raw.sha256(), { ops: 1, rounds: 5, warmupRounds: 1 });
  const fuelSha = await measure('fuel-metered', () => fuelHash(), { ops: 1, rounds: 5, warmupRounds: 1 });
  // With a deadline as well, the checkpoints that watch the clock come into play.
  const timedSha = await sandbox.createInstance(sha, { resourceLimits: ResourceLimits.default().with({ memory: { maxMemoryBytes: '1GiB' }, cpu: { fuel: Number.MAX_SAFE_INTEGER } }) });
  await sandbox.callFunction(timedSha, 'prepare', [TEN_MB]);
  const timedHash = sandbox.getFunction<[], number>(timedSha, 'sha256').sync!;
  const timedShaM = await measure('fuel + deadline', () => timedHash(), { ops: 1, rounds: 5, warmupRounds: 1 });
  const before = sandbox.getMetrics(fueled).fuelConsumed;
  fuelHash();
  const unitsPerHash = sandbox.getMetrics(fueled).fuelConsumed - before;

  // Per-call cost of deadline enforcement: the same call with and without a call timeout.
  const addModule = await sandbox.loadModule(ADD);
  const plain = sandbox.getFunction<[number, number], number>(await sandbox.createInstance(addModule, { resourceLimits: ResourceLimits.unlimited() }), 'add').sync!;
  const timed = sandbox.getFunction<[number, number], number>(await sandbox.createInstance(addModule, { resourceLimits: ResourceLimits.unlimited().with({ time: { callTimeoutMs: 1000 } }) }), 'add').sync!;
  const N = 1_000_000;
  const plainCall = await measure('no deadline', (n) => { let s = 0; for (let i = 0; i < n; i++) s = plain(i, s) | 0; return s; }, { ops: N });
  const timedCall = await measure('with callTimeoutMs', (n) => { let s = 0; for (let i = 0; i < n; i++) s = timed(i, s) | 0; return s; }, { ops: N });

  // Stop latency: how long past the deadline an infinite loop keeps running.
  const loopModule = await sandbox.loadModule(LIMITS);
  const latencies: number[] = [];
  for (let i = 0; i < 10; i++) {
    const id = await sandbox.createInstance(loopModule, { resourceLimits: { time: { callTimeoutMs: 20 } } });
    const start = performance.now();
    try {
      await sandbox.callFunction(id, 'forever', []);
    } catch (err) {
      if (!(err instanceof Timeout)) throw err;
    }
    latencies.push(performance.now() - start - 20);
    await sandbox.destroyInstance(id);
  }
  latencies.sort((a, b) => a - b);
  const stop: Measurement = { name: 'stop latency past a 20 ms deadline (median of 10)', nsPerOp: latencies[5] * 1e6 };
  const stopMax: Measurement = { name: 'stop latency past a 20 ms deadline (worst of 10)', nsPerOp: latencies[9] * 1e6 };

  // Memory and time per idle instance.
  const COUNT = 1000;
  (globalThis as { gc?: () => void }).gc?.();
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  for (let i = 0; i < COUNT; i++) await sandbox.createInstance(addModule, { resourceLimits: ResourceLimits.default() });
  const perInstanceUs = ((performance.now() - t0) / COUNT) * 1000;
  const perInstanceKb = (process.memoryUsage().rss - rssBefore) / COUNT / 1024;
  await sandbox.close();

  report('Limits (in-process runtime)', [
    { what: `fuel metering, SHA-256 of 10 MB in C (${unitsPerHash.toLocaleString('en')} units)`, ours: fuelSha, baseline: rawSha, goal: '≤ 1.15×', meets: (r) => r <= 1.15 },
    { what: 'SHA-256 of 10 MB under default limits (fuel, 30 s deadline, memory routing)', ours: timedShaM, baseline: rawSha, goal: '≤ 1.15×', meets: (r) => r <= 1.15 },
    { what: 'numeric call with a call deadline', ours: timedCall, baseline: plainCall, goal: '≤ 1 µs added', meets: () => timedCall.nsPerOp - plainCall.nsPerOp <= 1000 },
  ], [stop, stopMax, { name: `createInstance, default limits (${COUNT} live; ${perInstanceKb.toFixed(1)} KB RSS each; ~16,000 per process, V8 reserves 8 GiB of address space per memory)`, nsPerOp: perInstanceUs * 1000 }]);
}
