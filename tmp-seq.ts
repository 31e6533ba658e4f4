import { readFileSync } from 'node:fs';
import { Capabilities, WasmSandbox } from './src/index.ts';
const s = await WasmSandbox.create({ runtime: 'worker', workerPoolSize: Number(process.env.POOL ?? 12) });
const m = await s.loadModule(readFileSync('fixtures/http/wagi_app.wasm'));
const base = Capabilities.minimal().with({ clock: 'real', random: 'crypto', stdio: { stdin: 'capture', stdout: 'null', stderr: 'inherit' } });
await new Promise((r) => setTimeout(r, 2000));
for (let phase = 0; phase < 3; phase++) {
  const t3 = [0, 0, 0];
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) {
    let t = performance.now();
    const id = await s.createInstance(m, { capabilities: base.with({ env: { inherit: [], set: { PATH_INFO: '/hello' } } }), wasi: { stdin: new Uint8Array(0), onStdout: () => {} } });
    t3[0] += performance.now() - t; t = performance.now();
    await s.runCommand(id);
    t3[1] += performance.now() - t; t = performance.now();
    await s.destroyInstance(id);
    t3[2] += performance.now() - t;
  }
  console.log('per cycle ms', ((performance.now() - t0) / 200).toFixed(3), t3.map((x) => (x / 200).toFixed(3)));
}
await s.close();
