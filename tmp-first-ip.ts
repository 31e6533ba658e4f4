import { readFileSync } from 'node:fs';
import { Capabilities, WasmSandbox } from './src/index.ts';
const s = await WasmSandbox.create({ runtime: 'inprocess' });
const m = await s.loadModule(readFileSync('fixtures/http/wagi_app.wasm'));
const base = Capabilities.minimal().with({ clock: 'real', random: 'crypto', stdio: { stdin: 'capture', stdout: 'null', stderr: 'inherit' } });
await new Promise((r) => setTimeout(r, 1500));
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  const id = await s.createInstance(m, { capabilities: base.with({ env: { inherit: [], set: { PATH_INFO: '/hello' } } }), wasi: { stdin: new Uint8Array(0), onStdout: () => {} } });
  const t1 = performance.now();
  await s.runCommand(id);
  const t2 = performance.now();
  await s.destroyInstance(id);
  console.log('cycle', i, (t1 - t).toFixed(1), (t2 - t1).toFixed(1), (performance.now() - t2).toFixed(1));
}
await s.close();
