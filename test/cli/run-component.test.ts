import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const fixture = (path: string) => fileURLToPath(new URL(`../../fixtures/${path}`, import.meta.url));
const FS_CLI = fixture('components/fs-cli.wasm');
const MISBEHAVE = fixture('components/misbehave-cli.wasm');
const cacheDir = mkdtempSync(join(tmpdir(), 'cli-cache-'));

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', WASM_SANDBOX_CACHE_DIR: cacheDir, ...env },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('run: a wasi:cli component gets its arguments, argv[0] and granted environment only', () => {
  const args = cli(['run', FS_CLI, 'args', 'one', '--two']);
  assert.equal(args.status, 0, args.stderr);
  assert.deepEqual(JSON.parse(args.stdout), ['fs-cli.wasm', 'args', 'one', '--two']);
  assert.deepEqual(JSON.parse(cli(['run', '--argv0', 'tool', FS_CLI, '--', 'args']).stdout), ['tool', 'args']);
  const env = cli(['run', '--env', 'GREETING=hi', '--env', 'PASSED', FS_CLI, 'env'], { PASSED: 'through', HIDDEN: 'secret' });
  assert.equal(env.status, 0, env.stderr);
  assert.deepEqual(env.stdout.trim().split('\n').sort(), ['GREETING=hi', 'PASSED=through']);
});

test('run: a component sees --dir and --ro-dir preopens, read-only enforced', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-comp-'));
  mkdirSync(join(dir, 'ro'));
  mkdirSync(join(dir, 'rw'));
  writeFileSync(join(dir, 'ro', 'a.txt'), 'from the host');
  const read = cli(['run', '--ro-dir', `${join(dir, 'ro')}::/data`, FS_CLI, 'cat', '/data/a.txt']);
  assert.equal(read.status, 0, read.stderr);
  assert.equal(read.stdout.trim(), 'from the host');
  const refused = cli(['run', '--ro-dir', `${join(dir, 'ro')}::/data`, FS_CLI, 'write', '/data/b.txt', 'x']);
  assert.equal(refused.status, 1, 'the guest exits with err');
  assert.match(refused.stdout, /error: (not-permitted|read-only)/);
  const written = cli(['run', '--dir', `${join(dir, 'rw')}::/out`, FS_CLI, 'write', '/out/b.txt', 'written']);
  assert.equal(written.status, 0, written.stderr);
  assert.equal(readFileSync(join(dir, 'rw', 'b.txt'), 'utf8'), 'written');
  const policy = join(dir, 'p.json');
  writeFileSync(policy, JSON.stringify({ capabilities: { filesystem: [{ hostPath: 'ro', guestPath: '/p', mode: 'read' }] } }));
  const viaPolicy = cli(['run', '--policy', policy, FS_CLI, 'cat', '/p/a.txt']);
  assert.equal(viaPolicy.status, 0, viaPolicy.stderr);
  assert.equal(viaPolicy.stdout.trim(), 'from the host');
});

test('run: a component\'s exit codes are those of a module (guest code, 124, 134, 137)', () => {
  assert.equal(cli(['run', MISBEHAVE]).status, 0);
  assert.equal(cli(['run', FS_CLI, 'exit', 'err']).status, 1);
  const trap = cli(['run', MISBEHAVE, 'trap']);
  assert.equal(trap.status, 134);
  assert.match(trap.stderr, /trap \(unreachable\)/);
  const timeout = cli(['run', '--timeout', '200ms', MISBEHAVE, 'loop']);
  assert.equal(timeout.status, 124);
  assert.match(timeout.stderr, /timeout: call deadline of 200 ms/);
  const fuel = cli(['run', '--fuel', '100000', MISBEHAVE, 'loop']);
  assert.equal(fuel.status, 137);
  assert.match(fuel.stderr, /resource limit 'fuel' exceeded/);
  const json = cli(['run', '--json', MISBEHAVE, 'trap']);
  const report = JSON.parse(json.stderr.trim().split('\n').pop()!);
  assert.equal(report.status, 134);
  assert.equal(report.error.code, 'TRAP');
});

test('run: components that are not wasi:cli commands, or need WASI 0.3 interfaces not served, are refused with a clear message', () => {
  const greeter = cli(['run', fixture('components/greeter.wasm')]);
  assert.equal(greeter.status, 126);
  assert.match(greeter.stderr, /a component without a wasi:cli\/run export \(it exports example:greeter\/greet\)/);
  assert.doesNotMatch(greeter.stderr, /load it with ComponentRuntime/);
  assert.equal(cli(['run', '--invoke', 'f', FS_CLI]).status, 2);
  // A WASI 0.3 command whose imports the host does not all serve is refused before it runs.
  const unserved = cli(['run', fixture('components/p3-unserved.wasm')]);
  assert.equal(unserved.status, 126);
  assert.match(unserved.stderr, /imports WASI 0\.3 functions this version does not serve: wasi:clocks\/timezone@0\.3\.0-rc-2026-03-15/);
});

test('run prints a trapping module\'s backtrace with the guest\'s names, as wasmtime does', () => {
  for (const flags of [[], ['--timeout', '10s'], ['--fuel', '1000000000']]) {
    const r = cli(['run', ...flags, fixture('wasi/backtrace.wasm'), 'trap']);
    assert.equal(r.status, 134, r.stderr);
    assert.match(r.stderr, /wasm backtrace:\n +0: +0x[0-9a-f]+ - backtrace\.wasm!check_magic\n +1: +0x[0-9a-f]+ - backtrace\.wasm!read_field\n +2: +0x[0-9a-f]+ - backtrace\.wasm!parse_header\n/, flags.join(' '));
    assert.doesNotMatch(r.stderr, /wasm_sandbox\./, 'the sandbox\'s own functions are not frames of the guest');
  }
  const deep = cli(['run', fixture('wasi/backtrace.wasm'), 'deep']);
  assert.equal(deep.status, 134);
  assert.equal(deep.stderr.match(/backtrace\.wasm!descend$/gm)?.length, 41, 'every frame, not V8\'s default ten');
});
