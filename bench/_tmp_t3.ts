const N = 500000; const str = '"hello world"';
const enc = new TextEncoder();
function ascii(s: string): Uint8Array | undefined { const n = s.length; const out = new Uint8Array(n); for (let i = 0; i < n; i++) { const c = s.charCodeAt(i); if (c > 127) return undefined; out[i] = c; } return out; }
for (let k = 0; k < 2; k++) {
let t = performance.now(); for (let i = 0; i < N; i++) enc.encode(str); console.log('encode', (performance.now() - t) / N * 1e6);
t = performance.now(); for (let i = 0; i < N; i++) Buffer.from(str, 'utf8'); console.log('Buffer.from', (performance.now() - t) / N * 1e6);
t = performance.now(); for (let i = 0; i < N; i++) ascii(str); console.log('ascii', (performance.now() - t) / N * 1e6);
const scratch = new Uint8Array(64);
t = performance.now(); for (let i = 0; i < N; i++) { const r = enc.encodeInto(str, scratch); scratch.slice(0, r.written); } console.log('encodeInto+slice', (performance.now() - t) / N * 1e6);
const b = Buffer.from('"hello world"');
t = performance.now(); for (let i = 0; i < N; i++) b.utf8Slice(0, b.length); console.log('utf8Slice', (performance.now() - t) / N * 1e6);
t = performance.now(); for (let i = 0; i < N; i++) { const x = 0x0000000d00001000n; Number(BigInt.asUintN(32, x)); Number(BigInt.asUintN(32, x >> 32n)); } console.log('bigint', (performance.now() - t) / N * 1e6);
}
