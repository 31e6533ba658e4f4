import { readFileSync } from 'node:fs';
import { ResourceLimits, WasmSandbox } from '../src/index.ts';
import { measure, report } from './harness.ts';

const ADD = readFileSync(new URL('../fixtures/wat/add.wasm', import.meta.url));

export default async function coreBench(): Promise<void> {
  const raw = new WebAssembly.Instance(new WebAssembly.Module(ADD), {}).exports.add as (a: number, b: number) => number;
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(ADD);
  // Numeric call cost is measured without a deadline; the deadline's own cost is a separate figure in the limits bench.
  const instanceId = await sandbox.createInstance(moduleId, { resourceLimits: ResourceLimits.unlimited() });
  const add = sandbox.getFunction<[number, number], number>(instanceId, 'add');
  const addSync = add.sync!;

  const N = 2_000_000;
  const rawCall = await measure('raw V8 export', (n) => { let s = 0; for (let i = 0; i < n; i++) s = raw(i, s) | 0; return s; }, { ops: N });
  const syncCall = await measure('getFunction().sync', (n) => { let s = 0; for (let i = 0; i < n; i++) s = addSync(i, s) | 0; return s; }, { ops: N });
  const asyncCall = await measure('await getFunction()', async (n) => { let s = 0; for (let i = 0; i < n; i++) s = (await add(i, s)) | 0; return s; }, { ops: N / 10 });
  const byId = await measure('await callFunction(id)', async (n) => { let s = 0; for (let i = 0; i < n; i++) s = ((await sandbox.callFunction(instanceId, 'add', [i, s])) as number) | 0; return s; }, { ops: N / 10 });

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
    { what: 'numeric call, getFunction().sync', ours: syncCall, baseline: rawCall, goal: '≤ 2×', meets: (r) => r <= 2 },
    { what: 'numeric call, await getFunction()', ours: asyncCall, baseline: rawCall, goal: 'informational', meets: () => true },
    { what: 'numeric call, await callFunction(id)', ours: byId, baseline: rawCall, goal: '≤ 1 µs absolute', meets: () => byId.nsPerOp <= 1000 },
    { what: 'loadModule + createInstance', ours: ourLoad, baseline: rawLoad, goal: 'informational', meets: () => true },
  ]);
}
