import dc from 'node:diagnostics_channel';
import { Worker } from 'node:worker_threads';
let n = 0;
dc.subscribe('worker_threads', (m: any) => { n++; console.log('pub', Object.keys(m), m.worker?.constructor?.name); });
const w = new Worker('1', { eval: true, name: 'x' });
await new Promise((r) => w.once('exit', r));
console.log(n);
