import { WorkerThread } from './src/runtime/worker/worker-thread.ts';
for (const n of [1, 1, 4]) {
  const c0 = process.cpuUsage(); const t = performance.now();
  const ts = Array.from({ length: n }, () => new WorkerThread({})); ts.forEach((x) => x.hold());
  await Promise.all(ts.map((x) => x.ready));
  const c = process.cpuUsage(c0);
  console.log(n, 'threads: wall', (performance.now() - t).toFixed(0), 'ms, cpu', ((c.user + c.system) / 1000).toFixed(0), 'ms');
  await Promise.all(ts.map((x) => x.kill(new Error('x') as any)));
}
