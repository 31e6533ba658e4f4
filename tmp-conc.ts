import { stats, report } from './tmp-count.ts';
import { readFileSync } from 'node:fs';
import { Capabilities, WasmSandbox } from './src/index.ts';
const loops = Number(process.env.LOOPS ?? 10);
const s = await WasmSandbox.create({ runtime: 'worker', workerPoolSize: Number(process.env.POOL ?? 12) });
const m = await s.loadModule(readFileSync('fixtures/http/wagi_app.wasm'));
const base = Capabilities.minimal().with({ clock: 'real', random: 'crypto', stdio: { stdin: 'capture', stdout: 'null', stderr: 'inherit' } });
let count = 0;
async function loop() {
  for (let i = 0; i < Number(process.env.N ?? 40); i++) {
    const id = await s.createInstance(m, { capabilities: base.with({ env: { inherit: [], set: { PATH_INFO: '/hello' } } }), wasi: { stdin: new Uint8Array(0), onStdout: () => {} } });
    await s.runCommand(id);
    await s.destroyInstance(id);
    count++;
  }
}
for (let phase = 0; phase < Number(process.env.PHASES ?? 3); phase++) {
  const cpu0 = process.cpuUsage(); const t = performance.now(); count = 0; Object.assign(stats, { spawn: 0, kill: 0, acquireWaitMs: 0 });
  await Promise.all(Array.from({ length: loops }, loop));
  { const c = process.cpuUsage(cpu0); console.log(JSON.stringify(stats), 'req/s', (count / ((performance.now() - t) / 1000)).toFixed(0), 'cpu us/cycle', ((c.user + c.system) / count).toFixed(0)); report(count); }
}
await s.close();
