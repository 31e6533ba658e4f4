import { readFileSync } from 'node:fs';
import { WasmSandbox, ResourceLimits } from '../src/index.ts';
const s = await WasmSandbox.create();
const m = await s.loadModule(readFileSync('/tmp/structured.wasm'));
for (const limits of [undefined, ResourceLimits.unlimited()]) {
const id = await s.createInstance(m, { resourceLimits: limits });
const inst = (s as any).instances.get(id).instance;
const input = new TextEncoder().encode('"hello world"');
const N = 200000;
for (let k = 0; k < 3; k++) {
let t = performance.now(); for (let i = 0; i < N; i++) inst.callDataSync('echo', input); console.log('callDataSync ns', (performance.now() - t) / N * 1e6);
t = performance.now(); for (let i = 0; i < N; i++) await inst.callData('echo', input); console.log('callData ns', (performance.now() - t) / N * 1e6);
t = performance.now(); for (let i = 0; i < N; i++) await s.callFunctionJson(id, 'echo', '"hello world"'); console.log('json ns', (performance.now() - t) / N * 1e6);
}
const dec = new TextDecoder('utf-8', { fatal: true }); const enc = new TextEncoder();
let t = performance.now(); for (let i = 0; i < N; i++) dec.decode(input); console.log('decode ns', (performance.now() - t) / N * 1e6);
t = performance.now(); for (let i = 0; i < N; i++) enc.encode('"hello world"'); console.log('encode ns', (performance.now() - t) / N * 1e6);
t = performance.now(); for (let i = 0; i < N; i++) JSON.parse('"hello world"'); console.log('parse ns', (performance.now() - t) / N * 1e6);
t = performance.now(); for (let i = 0; i < N; i++) performance.now(); console.log('now ns', (performance.now() - t) / N * 1e6);
}
