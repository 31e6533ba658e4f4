import { stats, report } from './tmp-count.ts';
import { HttpServerWrapper } from './src/wrappers/http/http-server-wrapper.ts';
const w = new HttpServerWrapper();
const id = await w.startServer({ path: 'fixtures/http/wagi_app.wasm', runtime: (process.env.RT ?? 'worker') as any, pool: { maxConcurrency: 64, maxInstances: Number(process.env.POOL ?? 12) } });
const url = `${w.address(id).url}/hello`;
for (const conc of [1, 10, 10, 10]) {
  let n = 0; const t = performance.now(); const c0 = process.cpuUsage();
  Object.assign(stats, { spawn: 0, kill: 0, acquireWaitMs: 0 });
  await Promise.all(Array.from({ length: conc }, async () => { while (performance.now() - t < 2000) { const r = await fetch(url); await r.text(); n++; } }));
  const c = process.cpuUsage(c0);
  console.log('conc', conc, JSON.stringify(stats), 'req/s', (n / ((performance.now() - t) / 1000)).toFixed(0), 'cpu us/req', ((c.user + c.system) / n).toFixed(0));
  report(n);
}
await w.close();
