/**
 * Writes the fixtures whose source is a TypeScript assembler (features wabt cannot write, such as GC):
 * each fixtures/hostile/NAME.ts exports a function returning the bytes of NAME.wasm beside it.
 */
import { writeFileSync } from 'node:fs';
import { gcLoops } from '../fixtures/hostile/gc_loops.ts';

const out = new URL('../fixtures/hostile/gc_loops.wasm', import.meta.url);
const bytes = gcLoops();
if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) throw new Error('gc_loops.wasm does not validate');
writeFileSync(out, bytes);
console.log(`gc_loops.ts -> ${out.pathname} (${bytes.length} bytes)`);
