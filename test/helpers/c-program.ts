/**
 * A generated C program of realistic shape (thousands of functions, an indirect-call table,
 * malloc, printf) compiled to a >1 MB wasm32-wasi command, for whole-program tests. Compiling
 * takes several seconds, so the result is cached under .cache/ by source hash; without clang and
 * a wasm32-wasi sysroot the helper returns null and callers skip.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng } from './mutate.ts';

const cacheDir = fileURLToPath(new URL('../../.cache/test-c-programs/', import.meta.url));

function source(functions: number): string {
  const rand = prng(12345);
  const int = (n: number): number => Math.floor(rand() * n);
  const out = ['#include <stdio.h>', '#include <stdlib.h>', 'typedef unsigned u32;'];
  for (let i = 0; i < functions; i++) {
    const cases: string[] = [];
    for (let c = 0; c < 12; c++) {
      const a = 1 + int(1 << 20);
      const b = 1 + int(31);
      cases.push(`case ${c}: h = (h ^ ${a}u) * ${2 * b + 1}u + (h >> ${b}); v[(h >> 3) & 63] += h; break;`);
    }
    out.push(`__attribute__((noinline)) u32 f${i}(u32 x, u32 *v, int n) {
  u32 h = x + ${i}u;
  for (int i = 0; i < n; i++) { switch ((h + v[i & 63]) % 12) { ${cases.join(' ')} } }
  return h;
}`);
  }
  out.push('typedef u32 (*fn)(u32, u32 *, int);');
  // Stored through a volatile pointer so the compiler cannot elide the allocations below.
  out.push('static u32 *volatile sink;');
  out.push(`static fn table[] = {${Array.from({ length: functions }, (_, i) => `f${i}`).join(',')}};`);
  out.push(`int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 1;
  u32 *v = malloc(64 * sizeof(u32));
  for (int i = 0; i < 64; i++) v[i] = i * 2654435761u;
  u32 h = 0;
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < ${functions}; i++) h = table[(h + i) % ${functions}](h, v, 16);
    /* a growing allocation makes the program grow its memory */
    sink = malloc((size_t)(r + 1) * 200000);
    if (!sink) return 2;
    sink[r] = h;
    h ^= sink[r];
    free(sink);
  }
  printf("checksum %u\\n", h);
  free(v);
  return 0;
}`);
  return out.join('\n');
}

function hasToolchain(): boolean {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
  } catch {
    return false;
  }
  return existsSync('/usr/lib/wasm32-wasi/libc.a') || existsSync('/usr/lib/wasm32-wasi/crt1-command.o');
}

/** The compiled program, or null when no wasm32-wasi C toolchain is installed. */
export function bigCProgram(functions = 2700): Uint8Array | null {
  const src = source(functions);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const wasmPath = join(cacheDir, `big-${hash}.wasm`);
  if (existsSync(wasmPath)) return new Uint8Array(readFileSync(wasmPath));
  if (!hasToolchain()) return null;
  mkdirSync(cacheDir, { recursive: true });
  const cPath = join(cacheDir, `big-${hash}.c`);
  writeFileSync(cPath, src);
  execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-O1', cPath, '-o', wasmPath], { stdio: 'inherit' });
  return new Uint8Array(readFileSync(wasmPath));
}
