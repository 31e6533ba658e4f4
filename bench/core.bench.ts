import { readFileSync } from 'node:fs';
import { ResourceLimits, WasmSandbox } from '../src/index.ts';
import { measure, report } from './harness.ts';

const ADD = readFileSync(new URL('../fixtures/wat/add.wasm', import.meta.url));

export default async function coreBench(): Promise<void> {
  const raw = new WebAssembly.Instance(new WebAssembly.Module(ADD), {}).exports.add as (a: number, b: number) => number;
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(ADD);
  // Numeric call cost without limits, and below with the default ones.
  const instanceId = await sandbox.createInstance(moduleId, { resourceLimits: ResourceLimits.unlimited() });
  const add = sandbox.getFunction<[number, number], number>(instanceId, 'add');
  const addSync = add.sync!;
  // What users run with: ResourceLimits.default() (a 30 s call deadline, fuel checkpoints, memory limits).
  const limitedId = await sandbox.createInstance(moduleId, { resourceLimits: ResourceLimits.default() });
  const limitedSync = sandbox.getFunction<[number, number], number>(limitedId, 'add').sync!;

  const N = 2_000_000;
  const rawCall = await measure('raw V8 export', (n) => { let s = 0; for (let i = 0; i < n; i++) s = raw(i, s) | 0; return s; }, { ops: N });
  const syncCall = await measure('getFunction().sync', (n) => { let s = 0; for (let i = 0; i < n; i++) s = addSync(i, s) | 0; return s; }, { ops: N });
  const asyncCall = await measure('await getFunction()', async (n) => { let s = 0; for (let i = 0; i < n; i++) s = (await add(i, s)) | 0; return s; }, { ops: N / 10 });
  const byId = await measure('await callFunction(id)', async (n) => { let s = 0; for (let i = 0; i < n; i++) s = ((await sandbox.callFunction(instanceId, 'add', [i, s])) as number) | 0; return s; }, { ops: N / 10 });
  const limitedCall = await measure('getFunction().sync, default limits', (n) => { let s = 0; for (let i = 0; i < n; i++) s = limitedSync(i, s) | 0; return s; }, { ops: N });
  const limitedById = await measure('await callFunction(id), default limits', async (n) => { let s = 0; for (let i = 0; i < n; i++) s = ((await sandbox.callFunction(limitedId, 'add', [i, s])) as number) | 0; return s; }, { ops: N / 10 });
  // The raw call again after the others: one figure taken early in a noisy run is not the baseline.
  const rawAgain = await measure('raw V8 export', (n) => { let s = 0; for (let i = 0; i < n; i++) s = raw(i, s) | 0; return s; }, { ops: N });
  const rawBest = rawAgain.nsPerOp < rawCall.nsPerOp ? rawAgain : rawCall;

  const M = 300;
  const rawLoad = await measure('WebAssembly.compile + new Instance', async (n) => {
    for (let i = 0; i < n; i++) new WebAssembly.Instance(await WebAssembly.compile(ADD), {});
  }, { ops: M });
  const ourLoad = await measure('loadModule + createInstance', async (n) => {
    for (let i = 0; i < n; i++) {
      const m = await sandbox.loadModule(ADD);
      const inst = await sandbox.createInstance(m);
      await sandbox.destroyInstance(inst);
      sandbox.unloadModule(m);
    }
  }, { ops: M });
  await sandbox.close();

  report('Core calls and loading (add.wasm, in-process runtime)', [
    { what: 'numeric call, getFunction().sync, no limits', ours: syncCall, baseline: rawBest, goal: '≤ 2×', meets: (r) => r <= 2 },
    { what: 'numeric call, getFunction().sync, default limits (30 s deadline)', ours: limitedCall, baseline: rawBest, goal: '≤ 2×', meets: (r) => r <= 2 },
    { what: 'numeric call, await getFunction()', ours: asyncCall, baseline: rawBest, goal: 'informational', meets: () => true },
    { what: 'numeric call, await callFunction(id), no limits', ours: byId, baseline: rawBest, goal: '≤ 300 ns absolute', meets: () => byId.nsPerOp <= 300 },
    { what: 'numeric call, await callFunction(id), default limits', ours: limitedById, baseline: rawBest, goal: '≤ 300 ns absolute', meets: () => limitedById.nsPerOp <= 300 },
    { what: 'loadModule + createInstance', ours: ourLoad, baseline: rawLoad, goal: 'informational', meets: () => true },
  ]);
}
