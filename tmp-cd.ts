import { readFileSync } from 'node:fs';
import { WasmSandbox } from './src/index.ts';
const s = await WasmSandbox.create({ runtime: 'worker' });
const m = await s.loadModule(readFileSync('fixtures/wat/add.wasm'));
const keep = await s.createInstance(m);
await new Promise((r) => setTimeout(r, 1500));
const res: number[] = [];
for (let r = 0; r < 7; r++) {
  const t = performance.now();
  for (let i = 0; i < 50; i++) await s.destroyInstance(await s.createInstance(m));
  res.push((performance.now() - t) / 50 * 1000);
}
res.sort((a, b) => a - b);
console.log('create+destroy us median', res[3].toFixed(0), 'min', res[0].toFixed(0));
await s.close();
