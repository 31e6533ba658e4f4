import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPolicy } from '../../src/cli/commands/run.ts';
import { parseArgsAnywhere, UsageError } from '../../src/cli/args.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const fixture = (path: string) => fileURLToPath(new URL(`../../fixtures/${path}`, import.meta.url));
const cacheDir = mkdtempSync(join(tmpdir(), 'cli-cache-'));

function cli(args: string[], input?: string | Uint8Array) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, env: { PATH: process.env.PATH ?? '', WASM_SANDBOX_CACHE_DIR: cacheDir }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function policyFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'cli-policy-')), name);
  writeFileSync(path, text);
  return path;
}

test('run --policy lays the file over run\'s defaults: an empty policy changes nothing', () => {
  const empty = policyFile('p.json', '{}');
  const r = cli(['run', '--policy', empty, fixture('wat/wasi_hello.wasm')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'hello, world\n', 'stdout is still the terminal\'s');
  assert.doesNotMatch(r.stderr, /no stdout/);
  const { capabilities, resourceLimits } = runPolicy(new Map([['policy', [empty]]]));
  const defaults = runPolicy(new Map());
  assert.deepEqual(capabilities.toJSON(), defaults.capabilities.toJSON());
  assert.deepEqual(resourceLimits.toJSON(), defaults.resourceLimits.toJSON());
  assert.equal(resourceLimits.time.callTimeoutMs, null, 'no deadline appears');
  assert.equal(resourceLimits.io.maxOutputBytes, null, 'no output cap appears');
});

test('run --policy: what the file names overrides the defaults, per stdio stream, and the flags add to it', () => {
  const path = policyFile('p.yaml', [
    'capabilities:',
    '  stdio: { stderr: "null" }',
    '  env: { set: { FROM_POLICY: "1" } }',
    'resourceLimits:',
    '  time: { callTimeoutMs: 150ms }',
    '  io: { maxOutputBytes: 1MiB }',
  ].join('\n'));
  const { capabilities, resourceLimits } = runPolicy(new Map([['policy', [path]], ['env', ['FROM_FLAG=2']], ['fuel', ['1000']]]));
  assert.deepEqual(capabilities.stdio, { stdin: 'inherit', stdout: 'inherit', stderr: 'null' });
  assert.deepEqual(capabilities.env.set, { FROM_POLICY: '1', FROM_FLAG: '2' });
  assert.equal(capabilities.clock, 'real', 'defaults the file does not name stay');
  assert.equal(resourceLimits.time.callTimeoutMs, 150);
  assert.equal(resourceLimits.io.maxOutputBytes, 1024 * 1024);
  assert.equal(resourceLimits.cpu.fuel, 1000);
  const timeout = cli(['run', '--policy', path, fixture('wat/wasi_misbehave.wasm'), 'loop']);
  assert.equal(timeout.status, 124, 'the policy\'s deadline applies');
});

test('run says on stderr when the effective policy gives the guest no stdout', () => {
  const path = policyFile('p.json', JSON.stringify({ capabilities: { stdio: { stdout: 'null' } } }));
  const r = cli(['run', '--policy', path, fixture('wat/wasi_hello.wasm')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /the policy gives the guest no stdout/);
  const captured = policyFile('c.json', JSON.stringify({ capabilities: { stdio: { stdout: 'capture' } } }));
  assert.equal(cli(['run', '--policy', captured, fixture('wat/wasi_hello.wasm')]).stdout, 'hello, world\n', 'captured output is printed when the guest ends');
});

test('run: argv[0] is the file\'s base name, never its host path, unless --argv0 names it', () => {
  const r = cli(['run', fixture('wasi/backtrace.wasm')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'argv0=backtrace.wasm\n');
  assert.equal(cli(['run', '--argv0', 'tool', fixture('wasi/backtrace.wasm')]).stdout, 'argv0=tool\n');
});

test('run --invoke calls an export with arguments parsed by its types and prints the results', () => {
  const wat = policyFile('math.wat', `(module
    (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
    (func (export "wide") (param i64 f64) (result i64 f64) (i64.add (local.get 0) (i64.const 1)) (f64.mul (local.get 1) (f64.const 2)))
    (func (export "nothing"))
    (func (export "boom") unreachable))`);
  const add = cli(['run', '--invoke', 'add', wat, '5', '-8']);
  assert.equal(add.status, 0, add.stderr);
  assert.equal(add.stdout, '-3\n');
  const wide = cli(['run', '--invoke', 'wide', wat, '9223372036854775806', '1.25']);
  assert.equal(wide.stdout, '9223372036854775807\n2.5\n', 'an i64 keeps every digit');
  assert.equal(cli(['run', '--invoke', 'nothing', wat]).stdout, '');
  const arity = cli(['run', '--invoke', 'add', wat, '1']);
  assert.equal(arity.status, 2);
  assert.match(arity.stderr, /add\(i32, i32\) takes 2 arguments, got 1/);
  const type = cli(['run', '--invoke', 'add', wat, '1', 'x']);
  assert.equal(type.status, 2);
  assert.match(type.stderr, /argument 2 'x' is not an i32/);
  assert.equal(cli(['run', '--invoke', 'add', wat, '1', '4294967296']).status, 2, 'out of range for an i32');
  const missing = cli(['run', '--invoke', 'nope', wat]);
  assert.equal(missing.status, 126);
  assert.match(missing.stderr, /no exported function 'nope'.*add, wide, nothing, boom/);
  assert.equal(cli(['run', '--invoke', 'boom', wat]).status, 134);
});

test('run reads the module from standard input with -, as a binary or as WAT', () => {
  const binary = cli(['run', '-'], readFileSync(fixture('wat/wasi_hello.wasm')));
  assert.equal(binary.status, 0, binary.stderr);
  assert.equal(binary.stdout, 'hello, world\n');
  const text = cli(['run', '-'], readFileSync(fixture('wat/wasi_hello.wat'), 'utf8'));
  assert.equal(text.status, 0, text.stderr);
  assert.equal(text.stdout, 'hello, world\n');
  const garbage = cli(['run', '-'], 'hello there');
  assert.equal(garbage.status, 126);
  assert.match(garbage.stderr, /standard input is not a WebAssembly module/);
});

test('run compiles .wat files; bad WAT, directories and other files get a clear answer', () => {
  const r = cli(['run', fixture('wat/wasi_hello.wat')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'hello, world\n');
  const bad = cli(['run', policyFile('bad.wat', '(module (func (export "f") i32.add))')]);
  assert.equal(bad.status, 126);
  assert.match(bad.stderr, /is not valid WAT/);
  const dir = cli(['run', fixture('wat')]);
  assert.equal(dir.status, 126);
  assert.match(dir.stderr, /is a directory, not a WebAssembly module/);
  assert.doesNotMatch(dir.stderr, /EISDIR|not found/);
  const text = cli(['run', policyFile('notes.txt', 'just some notes')]);
  assert.equal(text.status, 126);
  assert.match(text.stderr, /is not a WebAssembly module .*it begins with 'just some notes'/);
});

test('without the wabt package, WAT input is refused with a message naming it', () => {
  // A resolve hook makes 'wabt' missing, as in an install without the optional package.
  const hide = 'data:text/javascript,import{registerHooks}from"node:module";registerHooks({resolve(s,c,n){if(s==="wabt")throw Object.assign(new Error("gone"),{code:"MODULE_NOT_FOUND"});return n(s,c)}})';
  const r = spawnSync(process.execPath, ['--import', hide, CLI, 'run', fixture('wat/wasi_hello.wat')], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', WASM_SANDBOX_CACHE_DIR: cacheDir } });
  assert.equal(r.status, 126);
  assert.match(r.stderr, /needs the 'wabt' package to compile: install it \(npm install wabt\)/);
  const binary = spawnSync(process.execPath, ['--import', hide, CLI, 'run', fixture('wat/wasi_hello.wasm')], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', WASM_SANDBOX_CACHE_DIR: cacheDir } });
  assert.equal(binary.stdout, 'hello, world\n', 'binaries never need it');
});

test('limit flags that are refused name the flag, not a policy path', () => {
  const tiny = cli(['run', '--max-memory', '1', fixture('wat/wasi_hello.wasm')]);
  assert.equal(tiny.status, 2);
  assert.match(tiny.stderr, /--max-memory 1: 1 byte is less than one 64 KiB wasm page; give a unit/);
  const huge = cli(['run', '--max-memory', '100TiB', fixture('wat/wasi_hello.wasm')]);
  assert.equal(huge.status, 2);
  assert.match(huge.stderr, /--max-memory 100TiB: .*beyond any sensible limit/);
  assert.doesNotMatch(huge.stderr, /\/memory\/maxMemoryBytes/);
  assert.match(cli(['run', '--timeout', 'soon', fixture('wat/wasi_hello.wasm')]).stderr, /--timeout soon:/);
});

test('help for an unknown command is a usage error', () => {
  const r = cli(['help', 'nope']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /no command 'nope'; commands: run, inspect, serve, mcp, types/);
  assert.equal(cli(['help']).status, 0);
  const help = cli(['help', 'run']);
  for (const word of ['--invoke', '--argv0', '.wat', 'standard input', 'wasi:cli/run']) assert.ok(help.stdout.includes(word), `run's help mentions ${word}`);
});

test('serve and mcp take options after the file as well as before it', () => {
  const spec = { listen: { value: true }, dir: { value: true, repeatable: true }, json: { value: false } };
  const parsed = parseArgsAnywhere(['--dir', 'a', 'app.wasm', '--listen', '127.0.0.1:1', '--dir=b', '--json'], spec);
  assert.equal(parsed.file, 'app.wasm');
  assert.deepEqual(parsed.options.get('dir'), ['a', 'b']);
  assert.deepEqual(parsed.options.get('listen'), ['127.0.0.1:1']);
  assert.ok(parsed.flags.has('json'));
  assert.deepEqual(parsed.rest, []);
  assert.throws(() => parseArgsAnywhere(['--listen', 'x', 'app.wasm', '--listen', 'y'], spec), UsageError);
  assert.throws(() => parseArgsAnywhere(['app.wasm', 'extra'], spec), /unexpected argument 'extra'/);
  // The option after the file reaches serve's own check of its value.
  const serve = cli(['serve', fixture('http/wagi_app.wasm'), '--listen', 'nowhere']);
  assert.equal(serve.status, 2);
  assert.match(serve.stderr, /--listen nowhere: expected HOST:PORT/);
});
