/**
 * Runs the official WebAssembly/wasi-testsuite (wasm32-wasip1 modules and wasm32-wasip3
 * components) through `wasm-sandbox run`, one process per test, exactly as a user would run them.
 *
 *   ./node_modules/.bin/node scripts/wasi-testsuite.ts PATH_TO_CHECKOUT [--verbose] [filter]
 *
 * PATH_TO_CHECKOUT is a local copy of the suite's prebuilt tests (branch `prod/testsuite-all`).
 * Both layouts are accepted: tests/<lang>/testsuite/wasm32-wasip{1,3}/*.wasm and the older
 * tests/<lang>/testsuite/*.wasm. Each test's directories are copied to a fresh temporary
 * directory because tests modify them, and are the only grant. Manifests come in two shapes: the
 * flat one of wasip1 (`exit_code`, `stdout`, ...) and the `operations` list of wasip3, of which
 * `run`, `wait`, and `write`/`read` on stdio are expressible as one run; a test needing anything
 * else (HTTP requests, socket peers, signals) is skipped, named with the reason. Prints one line
 * per failure or skip, then `N passed, N failed, N skipped` per set.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

interface Operation {
  type: string;
  id?: string;
  payload?: string;
  exit_code?: number;
  args?: string[];
  env?: Record<string, string>;
}

interface Manifest {
  args?: string[];
  dirs?: string[];
  env?: Record<string, string>;
  stdin?: string;
  exit_code?: number;
  stdout?: string;
  stderr?: string;
  operations?: Operation[];
}

/** One run of a test: what it gets and what it must produce. `stdout`/`stderr` are exact, the `*Prefix` ones what the output begins with. */
interface Spec {
  args: string[];
  dirs: string[];
  env: Record<string, string>;
  stdin: string;
  exitCode: number;
  stdout?: string;
  stderr?: string;
  stdoutPrefix?: string;
  stderrPrefix?: string;
}

/** The manifest as one run, or why it cannot be one. */
function toSpec(m: Manifest): Spec | string {
  const spec: Spec = { args: m.args ?? [], dirs: m.dirs ?? [], env: m.env ?? {}, stdin: m.stdin ?? '', exitCode: m.exit_code ?? 0 };
  if (m.stdout !== undefined) spec.stdout = m.stdout;
  if (m.stderr !== undefined) spec.stderr = m.stderr;
  if (m.operations === undefined) return spec;
  let stdout = '';
  let stderr = '';
  for (const op of m.operations) {
    if (op.type === 'run') {
      spec.args = op.args ?? spec.args;
      spec.env = { ...spec.env, ...op.env };
    } else if (op.type === 'wait') {
      spec.exitCode = op.exit_code ?? 0;
    } else if (op.type === 'write' && op.id === 'stdin') {
      spec.stdin += op.payload ?? '';
    } else if (op.type === 'read' && op.id === 'stdout') {
      stdout += op.payload ?? '';
    } else if (op.type === 'read' && op.id === 'stderr') {
      stderr += op.payload ?? '';
    } else {
      return `needs a '${op.type}' operation${op.id ? ` on ${op.id}` : ''}, which one run cannot express`;
    }
  }
  if (stdout) spec.stdoutPrefix = stdout;
  if (stderr) spec.stderrPrefix = stderr;
  return spec;
}

const TEST_DEADLINE_MS = 20_000;

function testDirectories(root: string): string[] {
  const out: string[] = [];
  for (const lang of ['rust', 'c', 'assemblyscript']) {
    const base = join(root, 'tests', lang, 'testsuite');
    const sets = ['wasm32-wasip1', 'wasm32-wasip3'].map((s) => join(base, s)).filter((d) => existsSync(d));
    if (sets.length > 0) out.push(...sets);
    else if (existsSync(base)) out.push(base);
  }
  return out;
}

interface Outcome {
  result: 'pass' | 'fail' | 'skip';
  reason: string;
}

function runTest(dir: string, wasmFile: string, verbose: boolean): Outcome {
  const name = basename(wasmFile, '.wasm');
  const specFile = join(dir, `${name}.json`);
  const spec = toSpec(existsSync(specFile) ? JSON.parse(readFileSync(specFile, 'utf8')) as Manifest : {});
  if (typeof spec === 'string') return { result: 'skip', reason: spec };
  const scratch = mkdtempSync(join(tmpdir(), `wasi-ts-${name}-`));
  try {
    const dirs = spec.dirs.flatMap((d) => {
      const copy = join(scratch, d);
      cpSync(join(dir, d), copy, { recursive: true });
      return ['--dir', `${copy}::${d}`];
    });
    const env = Object.entries(spec.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    const run = spawnSync(process.execPath, [CLI, 'run', '--timeout', `${TEST_DEADLINE_MS}ms`, ...dirs, ...env, wasmFile, '--', ...spec.args], {
      input: spec.stdin,
      env: {},
      timeout: TEST_DEADLINE_MS * 2,
    });
    if (run.error) return { result: 'fail', reason: `could not run: ${run.error.message}` };
    const code = run.status ?? -1;
    const stdout = run.stdout.toString('utf8');
    const stderr = run.stderr.toString('utf8');
    if (verbose && stderr) process.stderr.write(`[${name}] stderr: ${stderr}\n`);
    const fail = (reason: string): Outcome => ({ result: 'fail', reason });
    if (code !== spec.exitCode) return fail(`exit code ${code}, expected ${spec.exitCode}${stderr ? ` | stderr: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`);
    if (spec.stdout !== undefined && stdout !== spec.stdout) return fail(`stdout ${JSON.stringify(stdout)}, expected ${JSON.stringify(spec.stdout)}`);
    if (spec.stderr !== undefined && stderr !== spec.stderr) return fail(`stderr ${JSON.stringify(stderr)}, expected ${JSON.stringify(spec.stderr)}`);
    if (spec.stdoutPrefix !== undefined && !stdout.startsWith(spec.stdoutPrefix)) return fail(`stdout ${JSON.stringify(stdout)}, expected it to begin with ${JSON.stringify(spec.stdoutPrefix)}`);
    if (spec.stderrPrefix !== undefined && !stderr.startsWith(spec.stderrPrefix)) return fail(`stderr ${JSON.stringify(stderr)}, expected it to begin with ${JSON.stringify(spec.stderrPrefix)}`);
    return { result: 'pass', reason: '' };
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
  let anyFailed = false;
  for (const dir of dirs) {
    const suite = dir.split('/tests/')[1] ?? dir;
    const counts = { pass: 0, fail: 0, skip: 0 };
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.wasm')).sort()) {
      if (filter !== undefined && !file.includes(filter)) continue;
      const outcome = runTest(dir, join(dir, file), verbose);
      counts[outcome.result]++;
      if (outcome.result === 'pass') {
        if (verbose) console.log(`ok   ${suite}/${file}`);
      } else {
        console.log(`${outcome.result === 'fail' ? 'FAIL' : 'SKIP'} ${suite}/${file}: ${outcome.reason}`);
      }
    }
    anyFailed ||= counts.fail > 0;
    console.log(`${suite}: ${counts.pass} passed, ${counts.fail} failed${counts.skip ? `, ${counts.skip} skipped` : ''}`);
  }
  process.exitCode = anyFailed ? 1 : 0;
}

main();
