/**
 * Compiles every fixtures/**\/*.c to a .wasm beside it (WASI preview1, wasi-libc):
 *
 *   ./node_modules/.bin/node scripts/build-c-fixtures.ts [--force]
 *
 * Outputs are committed, so tests never need a C toolchain; this only has to run when a .c changes.
 * An up-to-date .wasm (newer than its .c and every header in the same directory) is skipped unless
 * --force. Without clang the script says so and exits 0, leaving the committed binaries in place.
 * A source whose first line is `// build-flags: …` gets those flags added (e.g. `-mexec-model=reactor`
 * for a library with exports and no main).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const FIXTURES = join(ROOT, 'fixtures');
const CLANG = process.env.CLANG ?? 'clang';
const SYSROOT = process.env.WASI_SYSROOT ?? '/usr';
const FLAGS = ['--target=wasm32-wasi', `--sysroot=${SYSROOT}`, '-O1', '-Wall', '-Wno-unused-function'];

function findSources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findSources(p));
    else if (entry.name.endsWith('.c')) out.push(p);
  }
  return out.sort();
}

function extraFlags(source: string): string[] {
  const first = readFileSync(source, 'utf8').split('\n', 1)[0];
  const m = /^\/\/\s*build-flags:(.*)$/.exec(first);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

function upToDate(source: string, output: string): boolean {
  const out = mtime(output);
  if (out < 0) return false;
  const inputs = [source, ...readdirSync(dirname(source)).filter((f) => f.endsWith('.h')).map((f) => join(dirname(source), f))];
  return inputs.every((i) => mtime(i) <= out);
}

function main(): void {
  const force = process.argv.includes('--force');
  const probe = spawnSync(CLANG, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    console.log(`build-c-fixtures: '${CLANG}' not found; skipping (the committed .wasm files are used as they are).`);
    console.log('  install: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32');
    return;
  }
  let built = 0;
  let skipped = 0;
  let failed = 0;
  for (const source of findSources(FIXTURES)) {
    const output = source.replace(/\.c$/, '.wasm');
    if (!force && upToDate(source, output)) {
      skipped++;
      continue;
    }
    try {
      execFileSync(CLANG, [...FLAGS, ...extraFlags(source), source, '-o', output], { stdio: ['ignore', 'inherit', 'inherit'] });
      console.log(`built ${relative(ROOT, output)}`);
      built++;
    } catch {
      console.error(`FAILED ${relative(ROOT, source)}`);
      failed++;
    }
  }
  console.log(`build-c-fixtures: ${built} built, ${skipped} up to date, ${failed} failed`);
  if (failed > 0) process.exitCode = 1;
}

main();
