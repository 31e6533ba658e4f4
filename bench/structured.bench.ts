/**
 * Structured calls against their peers, measured in the same run: a 12-byte JSON echo against the
 * Extism JS SDK on an equivalent plugin (goal ≤ ⅓ of its time), 1 MB MessagePack round trips, and a
 * host function call against a raw import call. Run alone with `node bench/run.ts structured`.
 */
import { readFileSync } from 'node:fs';
import { encode } from '@msgpack/msgpack';
import createPlugin from '@extism/extism';
import { ResourceLimits, WasmSandbox, type HostContext } from '../src/index.ts';
import { formatTime, measure, report } from './harness.ts';

const fixture = (path: string) => readFileSync(new URL(`../fixtures/abi/${path}`, import.meta.url));
const NATIVE = fixture('c/structured.wasm');
const PLUGIN = fixture('wat/extism_plugin.wasm');
const HOSTCALL = fixture('wat/hostcall.wasm');
/** Twelve bytes of JSON. */
const ECHO_INPUT = '"hello wasm"';
/** The Extism JS SDK 1.0.3 breaks after 16,383 calls without a reset; every round resets it. */
const EXTISM_ROUND = 2_000;

async function echoBench(): Promise<void> {
  const extism = await createPlugin({ wasm: [{ data: PLUGIN }] }, { useWasi: false, runInWorker: false });
  const sandbox = await WasmSandbox.create();
  const native = await sandbox.createInstance(await sandbox.loadModule(NATIVE));
  const plugin = await sandbox.createInstance(await sandbox.loadModule(PLUGIN));
  const workerSandbox = await WasmSandbox.create({ runtime: 'worker' });
  const workerNative = await workerSandbox.createInstance(await workerSandbox.loadModule(NATIVE));
  if ((await sandbox.callFunctionJson(native, 'echo', ECHO_INPUT)) !== ECHO_INPUT) throw new Error('echo is broken');
  if ((await extism.call('echo', ECHO_INPUT))?.text() !== ECHO_INPUT) throw new Error('the Extism echo is broken');

  const theirs = await measure('Extism JS SDK plugin.call', async (n) => {
    for (let i = 0; i < n; i++) await extism.call('echo', ECHO_INPUT);
    await extism.reset();
  }, { ops: EXTISM_ROUND });
  const ours = await measure('callFunctionJson, wsdata guest', async (n) => {
    for (let i = 0; i < n; i++) await sandbox.callFunctionJson(native, 'echo', ECHO_INPUT);
  }, { ops: 20_000 });
  const oursOnPlugin = await measure('callFunctionJson, the same Extism plugin', async (n) => {
    for (let i = 0; i < n; i++) await sandbox.callFunctionJson(plugin, 'echo', ECHO_INPUT);
  }, { ops: 20_000 });
  const oursWorker = await measure('callFunctionJson, worker runtime', async (n) => {
    for (let i = 0; i < n; i++) await workerSandbox.callFunctionJson(workerNative, 'echo', ECHO_INPUT);
  }, { ops: 2_000 });
  await extism.close();
  await sandbox.close();
  await workerSandbox.close();

  report('Structured calls: 12-byte JSON echo (default limits)', [
    { what: 'callFunctionJson, wsdata guest (C SDK)', ours, baseline: theirs, goal: '≤ ⅓×', meets: (r) => r <= 1 / 3 },
    { what: 'callFunctionJson, Extism plugin through our kernel', ours: oursOnPlugin, baseline: theirs, goal: '≤ ⅓×', meets: (r) => r <= 1 / 3 },
    { what: 'callFunctionJson, worker runtime', ours: oursWorker, baseline: theirs, goal: 'informational', meets: () => true },
  ]);
}

async function msgpackBench(): Promise<void> {
  const payload = encode(new Uint8Array(1 << 20).map((_, i) => i & 0xff));
  const limits = ResourceLimits.default().with({ io: { maxPayloadBytes: '4MiB' } });
  const rows = [];
  for (const runtime of ['inprocess', 'worker'] as const) {
    const sandbox = await WasmSandbox.create({ runtime });
    const id = await sandbox.createInstance(await sandbox.loadModule(NATIVE), { resourceLimits: limits });
    const m = await measure(`1 MB callFunctionMsgpack echo (${runtime})`, async (n) => {
      for (let i = 0; i < n; i++) await sandbox.callFunctionMsgpack(id, 'echo', payload);
    }, { ops: 20, rounds: 7 });
    rows.push({ ...m, name: `${m.name}: ${formatTime(m.nsPerOp)} per round trip, ${((2 * payload.length) / (m.nsPerOp / 1e9) / 2 ** 20).toFixed(0)} MiB/s in + out` });
    await sandbox.close();
  }
  const copy = await measure('copy of 1 MB, twice (memcpy floor)', (n) => {
    const target = new Uint8Array(payload.length);
    for (let i = 0; i < n; i++) {
      target.set(payload);
      payload.slice();
    }
  }, { ops: 20 });
  report('Structured calls: 1 MB MessagePack round trip', [
    { what: '1 MB msgpack echo, in-process', ours: rows[0], baseline: copy, goal: 'informational', meets: () => true },
    { what: '1 MB msgpack echo, worker', ours: rows[1], baseline: copy, goal: 'informational', meets: () => true },
  ], rows);
}

async function hostCallBench(): Promise<void> {
  const N = 2_000_000;
  const module = new WebAssembly.Module(HOSTCALL);
  const raw = new WebAssembly.Instance(module, { env: { tick: (i: number) => i } }).exports.loop as (n: number) => number;
  const sandbox = await WasmSandbox.create();
  const id = await sandbox.createInstance(await sandbox.loadModule(HOSTCALL), {
    resourceLimits: ResourceLimits.unlimited(),
    capabilities: { hostFunctions: ['env.tick'] },
    hostFunctions: { env: { tick: (_ctx: HostContext, i: number) => i } },
  });
  const asyncId = await sandbox.createInstance(await sandbox.loadModule(HOSTCALL), {
    resourceLimits: ResourceLimits.unlimited(),
    capabilities: { hostFunctions: ['env.tick'] },
    hostFunctions: { env: { tick: async (_ctx: HostContext, i: number) => i } },
  });
  const limitedId = await sandbox.createInstance(await sandbox.loadModule(HOSTCALL), {
    resourceLimits: ResourceLimits.default(),
    capabilities: { hostFunctions: ['env.tick'] },
    hostFunctions: { env: { tick: (_ctx: HostContext, i: number) => i } },
  });
  const loop = sandbox.getFunction<[number], number>(id, 'loop').sync!;
  const limitedLoop = sandbox.getFunction<[number], number>(limitedId, 'loop').sync!;
  const rawCall = await measure('raw import call', (n) => raw(n), { ops: N });
  const hostCall = await measure('host function call', (n) => loop(n), { ops: N });
  const limitedHostCall = await measure('host function call, default limits', (n) => limitedLoop(n), { ops: N });
  const asyncCall = await measure('async host function call (JSPI)', async (n) => sandbox.callFunction(asyncId, 'loop', [n]), { ops: 20_000 });
  await sandbox.close();
  const workerSandbox = await WasmSandbox.create({ runtime: 'worker' });
  const wid = await workerSandbox.createInstance(await workerSandbox.loadModule(HOSTCALL), {
    resourceLimits: ResourceLimits.unlimited(),
    capabilities: { hostFunctions: ['env.tick'] },
    hostFunctions: { env: { tick: (_ctx: HostContext, i: number) => i } },
  });
  const workerCall = await measure('host function call, worker runtime', async (n) => workerSandbox.callFunction(wid, 'loop', [n]), { ops: 20_000 });
  await workerSandbox.close();
  report('Host functions: one guest → host call', [
    { what: 'sync host function, in-process, no limits', ours: hostCall, baseline: rawCall, goal: '≤ 2×', meets: (r) => r <= 2 },
    { what: 'sync host function, in-process, default limits (fuel checkpoints in the loop)', ours: limitedHostCall, baseline: rawCall, goal: '≤ 2×', meets: (r) => r <= 2 },
    { what: 'async host function, in-process (JSPI)', ours: asyncCall, baseline: rawCall, goal: 'informational', meets: () => true },
    { what: 'host function, worker runtime', ours: workerCall, baseline: rawCall, goal: 'informational', meets: () => true },
  ]);
}

export default async function structuredBench(): Promise<void> {
  await echoBench();
  await msgpackBench();
  await hostCallBench();
}
