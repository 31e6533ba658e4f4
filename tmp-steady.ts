import { readFileSync } from 'node:fs';
import { WasmSandbox } from './src/index.ts';
const s = await WasmSandbox.create({ runtime: 'worker' });
const m = await s.loadModule(readFileSync('fixtures/wat/add.wasm'));
const cycle = async (i: number) => { const id = await s.createInstance(m); await s.callFunction(id, 'add', [i, 1]); await s.destroyInstance(id); };
const seq = async (n: number) => { for (let i = 0; i < n; i++) await cycle(i); };
const conc = async (n: number) => { await Promise.all(Array.from({ length: 10 }, async () => { for (let i = 0; i < n / 10; i++) await cycle(i); })); };
for (let round = 0; round < 6; round++) {
  const out: string[] = [];
  for (const [name, f] of [['seq', seq], ['conc', conc]] as const) {
    const c0 = process.cpuUsage(); const t = performance.now();
    await f(1000);
    const c = process.cpuUsage(c0);
    out.push(`${name} ${((performance.now() - t)).toFixed(0)}us/op cpu ${((c.user + c.system) / 1000).toFixed(0)}us/op`);
  }
  console.log(round, out.join(' | '));
}
await s.close();
