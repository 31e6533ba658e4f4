import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/wat/${name}`, import.meta.url));

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, env: { PATH: process.env.PATH ?? '', SECRET_TOKEN: 'hunter2' }, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('run: a WASI hello world prints and exits 0', () => {
  const r = cli(['run', fixture('wasi_hello.wasm')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'hello, world\n');
});

test('run: exit statuses map guest codes, traps, timeouts, limits, usage and missing files', () => {
  assert.equal(cli(['run', fixture('wasi_exit.wasm')]).status, 3);
  const trap = cli(['run', fixture('wasi_misbehave.wasm'), 'trap']);
  assert.equal(trap.status, 134);
  assert.match(trap.stderr, /trap \(unreachable\)/);
  const timeout = cli(['run', '--timeout', '150ms', fixture('wasi_misbehave.wasm'), 'loop']);
  assert.equal(timeout.status, 124);
  assert.match(timeout.stderr, /timeout: call deadline of 150 ms/);
  const fuel = cli(['run', '--fuel', '100000', fixture('wasi_misbehave.wasm'), 'loop']);
  assert.equal(fuel.status, 137);
  assert.match(fuel.stderr, /resource limit 'fuel' exceeded: limit 100000/);
  const memory = cli(['run', '--max-memory', '0', fixture('wasi_hello.wasm')]);
  assert.equal(memory.status, 137);
  assert.match(memory.stderr, /'memory'/);
  assert.equal(cli(['run', '--bogus', fixture('wasi_hello.wasm')]).status, 2);
  assert.equal(cli(['run', '--max-memory', 'lots', fixture('wasi_hello.wasm')]).status, 2);
  assert.equal(cli(['run', '--dir', '/definitely/not/here', fixture('wasi_hello.wasm')]).status, 2);
  assert.equal(cli(['run']).status, 2);
  assert.equal(cli(['frobnicate']).status, 2);
  const missing = cli(['run', '/definitely/not/here.wasm']);
  assert.equal(missing.status, 127);
  assert.match(missing.stderr, /not found/);
  const notWasm = join(mkdtempSync(join(tmpdir(), 'cli-')), 'x.wasm');
  writeFileSync(notWasm, 'hello');
  assert.equal(cli(['run', notWasm]).status, 126);
});

test('run: guest arguments after the file are passed through, not parsed as ours', () => {
  // `--timeout` after the file belongs to the guest: the loop would otherwise be stopped quickly.
  const r = cli(['run', '--timeout', '2s', fixture('wasi_misbehave.wasm'), 'trap', '--timeout', '1ms']);
  assert.equal(r.status, 134);
  const separated = cli(['run', fixture('wasi_misbehave.wasm'), '--', 'trap']);
  assert.equal(separated.status, 134, 'the separator is not passed to the guest');
  assert.equal(cli(['run', '--', fixture('wasi_misbehave.wasm'), 'trap']).status, 134, 'nor one before the file');
});

test('run: a bad policy file is a usage error naming the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  writeFileSync(join(dir, 'p.yaml'), 'resourceLimits:\n  memory: { maxMemoryBytez: 1 }\n');
  const r = cli(['run', '--policy', join(dir, 'p.yaml'), fixture('wasi_hello.wasm')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\/resourceLimits\/memory\/maxMemoryBytez/);
});

test('run grants exit by default; a policy that takes it away stops an exiting guest with 126 and says why', () => {
  assert.equal(cli(['run', fixture('wasi_exit.wasm')]).status, 3);
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  // A policy is laid over run's defaults, so leaving exit out keeps it; denying it takes `exit: false`.
  writeFileSync(join(dir, 'keeps.json'), JSON.stringify({ capabilities: { stdio: { stdout: 'inherit', stderr: 'inherit' } } }));
  assert.equal(cli(['run', '--policy', join(dir, 'keeps.json'), fixture('wasi_exit.wasm')]).status, 3);
  writeFileSync(join(dir, 'p.json'), JSON.stringify({ capabilities: { exit: false } }));
  const r = cli(['run', '--policy', join(dir, 'p.json'), fixture('wasi_exit.wasm')]);
  assert.equal(r.status, 126);
  assert.match(r.stderr, /capability 'exit' not granted: the guest asked to exit with code 3/);
  // inspect says the same of that policy, from the same decision.
  assert.match(cli(['inspect', '--policy', join(dir, 'p.json'), fixture('wasi_exit.wasm')]).stdout, /exit: calls will be denied/);
});

test('run --json reports exit code and metrics on stderr', () => {
  const r = cli(['run', '--json', fixture('wasi_hello.wasm')]);
  assert.equal(r.status, 0);
  const report = JSON.parse(r.stderr.trim().split('\n').pop()!);
  assert.equal(report.exitCode, 0);
  assert.equal(report.error, null);
  assert.equal(typeof report.metrics.memoryBytes, 'number');
  assert.equal(report.metrics.calls, 1);
});

test('help and version', () => {
  const help = cli(['run', '--help']);
  assert.equal(help.status, 0);
  for (const word of ['--dir', '--ro-dir', '--env', '--max-memory', '--fuel', '--timeout', '--max-fds', '--allow-net', '--policy', '--stdin', '--json', '124', '134', '137', 'Examples']) {
    assert.ok(help.stdout.includes(word), `help mentions ${word}`);
  }
  assert.match(cli(['--version']).stdout, /^\d+\.\d+\.\d+/);
  assert.equal(cli(['--help']).status, 0);
});

test('inspect prints imports, exports and what the policy does not grant', () => {
  const r = cli(['inspect', fixture('wasi_hello.wasm')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wasi: preview1/);
  assert.match(r.stdout, /wasi_snapshot_preview1\.fd_write: function \(i32, i32, i32, i32\) -> \(i32\)/);
  assert.match(r.stdout, /_start: function/);
  assert.match(r.stdout, /not granted by the minimal policy:\n\s+stdio/);
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  writeFileSync(join(dir, 'p.json'), JSON.stringify({ capabilities: { stdio: { stdout: 'inherit' }, exit: true } }));
  const granted = cli(['inspect', '--policy', join(dir, 'p.json'), fixture('wasi_hello.wasm')]);
  assert.match(granted.stdout, /everything it needs is granted/);
  const json = JSON.parse(cli(['inspect', '--json', fixture('imports.wasm')]).stdout);
  assert.equal(json.kind, 'core');
  assert.deepEqual(json.unmet.map((u: { capability: string }) => u.capability), ['hostFunctions']);
  assert.equal(cli(['inspect', '/nope.wasm']).status, 127);
  // A directory is said to be one, as run says it, and WAT text is read as run reads it.
  const directory = cli(['inspect', dir]);
  assert.equal(directory.status, 126);
  assert.match(directory.stderr, /is a directory, not a WebAssembly module/);
  assert.match(cli(['inspect', fixture('add.wat')]).stdout, /kind: core/);
});
