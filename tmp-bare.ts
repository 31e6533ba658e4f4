import { Worker } from 'node:worker_threads';
for (let i = 0; i < 3; i++) {
  const c0 = process.cpuUsage(); const t = performance.now();
  const w = new Worker('require("node:worker_threads").parentPort.postMessage(1)', { eval: true });
  await new Promise((r) => w.once('message', r));
  const c = process.cpuUsage(c0);
  console.log('bare worker: wall', (performance.now() - t).toFixed(0), 'cpu', ((c.user + c.system) / 1000).toFixed(0));
  await w.terminate();
}
