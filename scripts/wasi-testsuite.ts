/**
 * Runs the official WebAssembly/wasi-testsuite (wasm32-wasip1 binaries) through `wasm-sandbox run`,
 * one process per test, exactly as a user would run them.
 *
 *   ./node_modules/.bin/node scripts/wasi-testsuite.ts PATH_TO_CHECKOUT [--verbose] [filter]
 *
 * PATH_TO_CHECKOUT is a local copy of the suite's prebuilt tests (branch `prod/testsuite-all`).
 * Both layouts are accepted: tests/<lang>/testsuite/wasm32-wasip1/*.wasm and the older
 * tests/<lang>/testsuite/*.wasm. Each test's directories are copied to a fresh temporary
 * directory because tests modify them. Prints one line per failure, then `N passed, N failed`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

interface Spec {
  args?: string[];
  dirs?: string[];
  env?: Record<string, string>;
  stdin?: string;
  exit_code?: number;
  stdout?: string;
  stderr?: string;
}

const TEST_DEADLINE_MS = 20_000;

function testDirectories(root: string): string[] {
  const out: string[] = [];
  for (const lang of ['rust', 'c', 'assemblyscript']) {
    const base = join(root, 'tests', lang, 'testsuite');
    const p1 = join(base, 'wasm32-wasip1');
    if (existsSync(p1)) out.push(p1);
    else if (existsSync(base)) out.push(base);
  }
  return out;
}

interface Outcome {
  ok: boolean;
  reason: string;
}

function runTest(dir: string, wasmFile: string, verbose: boolean): Outcome {
  const name = basename(wasmFile, '.wasm');
  const specFile = join(dir, `${name}.json`);
  const spec: Spec = existsSync(specFile) ? JSON.parse(readFileSync(specFile, 'utf8')) : {};
  const scratch = mkdtempSync(join(tmpdir(), `wasi-ts-${name}-`));
  try {
    const dirs = (spec.dirs ?? []).flatMap((d) => {
      const copy = join(scratch, d);
      cpSync(join(dir, d), copy, { recursive: true });
      return ['--dir', `${copy}::${d}`];
    });
    const env = Object.entries(spec.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    const run = spawnSync(process.execPath, [CLI, 'run', '--timeout', `${TEST_DEADLINE_MS}ms`, ...dirs, ...env, wasmFile, '--', ...(spec.args ?? [])], {
      input: spec.stdin ?? '',
      env: {},
      timeout: TEST_DEADLINE_MS * 2,
    });
    if (run.error) return { ok: false, reason: `could not run: ${run.error.message}` };
    const code = run.status ?? -1;
    const stdout = run.stdout.toString('utf8');
    const stderr = run.stderr.toString('utf8');
    if (verbose && stderr) process.stderr.write(`[${name}] stderr: ${stderr}\n`);
    const expected = spec.exit_code ?? 0;
    if (code !== expected) return { ok: false, reason: `exit code ${code}, expected ${expected}${stderr ? ` | stderr: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}` };
    if (spec.stdout !== undefined && stdout !== spec.stdout) return { ok: false, reason: `stdout ${JSON.stringify(stdout)}, expected ${JSON.stringify(spec.stdout)}` };
    if (spec.stderr !== undefined && stderr !== spec.stderr) return { ok: false, reason: `stderr ${JSON.stringify(stderr)}, expected ${JSON.stringify(spec.stderr)}` };
    return { ok: true, reason: '' };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function main(): void {
  const argv = process.argv.slice(2);
  const verbose = argv.includes('--verbose');
  const positional = argv.filter((a) => !a.startsWith('--'));
  const root = positional[0];
  const filter = positional[1];
  if (root === undefined) {
    console.error('usage: scripts/wasi-testsuite.ts PATH_TO_WASI_TESTSUITE_CHECKOUT [--verbose] [name-filter]');
    process.exit(2);
  }
  const dirs = testDirectories(root);
  if (dirs.length === 0) {
    console.error(`no tests/{rust,c,assemblyscript}/testsuite directories under ${root}`);
    process.exit(2);
  }
  let passed = 0;
  let failed = 0;
  for (const dir of dirs) {
    const suite = dir.split('/tests/')[1]?.split('/')[0] ?? dir;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.wasm')).sort()) {
      if (filter !== undefined && !file.includes(filter)) continue;
      const result = runTest(dir, join(dir, file), verbose);
      if (result.ok) {
        passed++;
        if (verbose) console.log(`ok   ${suite}/${file}`);
      } else {
        failed++;
        console.log(`FAIL ${suite}/${file}: ${result.reason}`);
      }
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main();
