import { registerHooks } from 'node:module';
let n = 0, bytes = 0; const seen: string[] = [];
registerHooks({ load(url, ctx, next) { const r = next(url, ctx); n++; seen.push(url.replace('file:///work/main/', '')); bytes += r.source ? String(r.source).length : 0; return r; } });
const t = performance.now();
await import('./src/runtime/worker/worker-entry.ts').catch((e) => console.log('err', String(e).slice(0, 80)));
console.log('modules', n, 'bytes', bytes, 'ms', (performance.now() - t).toFixed(0));
console.log(seen.filter((s) => !s.startsWith('node:')).join('\n'));
