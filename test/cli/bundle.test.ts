/**
 * The bundled CLI (what the package's `bin` runs) behaves as the sources do, and `run` keeps its V8
 * code cache in the cache directory: written once, read afterwards, never trusted across builds or
 * when damaged.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENTRY_HEADER_BYTES } from '../../src/cache-dir.ts';
import { buildBundle, packageRoot as root } from '../helpers/bundle.ts';

const fixture = (name: string) => join(root, 'fixtures', 'wat', name);
let outdir: string;
let remove: () => void;

before(() => {
  ({ outdir, remove } = buildBundle());
});

after(() => remove());

function cli(cacheDir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(outdir, 'main.js'), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', WASM_SANDBOX_CACHE_DIR: cacheDir } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function codeCaches(cacheDir: string): string[] {
  try {
    return readdirSync(join(cacheDir, 'v8'));
  } catch {
    return [];
  }
}

test('the bundled CLI runs components, WAT and backtraces with its own files, and prints no engine warnings', () => {
  const cache = mkdtempSync(join(tmpdir(), 'bundle-cache-'));
  const component = join(root, 'fixtures', 'components', 'misbehave-cli.wasm');
  const ok = cli(cache, 'run', component);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stderr, '', 'nothing on stderr, no ExperimentalWarning');
  // The component runner is a file of its own with its own error classes: statuses still map.
  const trap = cli(cache, 'run', component, 'trap');
  assert.equal(trap.status, 134);
  assert.match(trap.stderr, /^wasm-sandbox: trap \(unreachable\)/);
  assert.equal(cli(cache, 'run', '--fuel', '100000', component, 'loop').status, 137);
  const wat = cli(cache, 'run', fixture('wasi_hello.wat'));
  assert.equal(wat.status, 0, wat.stderr);
  assert.equal(wat.stdout, 'hello, world\n');
  assert.equal(wat.stderr, '');
  const backtrace = cli(cache, 'run', join(root, 'fixtures', 'wasi', 'backtrace.wasm'), 'trap');
  assert.equal(backtrace.status, 134);
  assert.match(backtrace.stderr, /0: +0x[0-9a-f]+ - backtrace\.wasm!check_magic/);
});

test('the bundled CLI runs commands and maps failures to the same exit statuses', () => {
  const cache = mkdtempSync(join(tmpdir(), 'bundle-cache-'));
  const hello = cli(cache, 'run', fixture('wasi_hello.wasm'));
  assert.equal(hello.status, 0, hello.stderr);
  assert.equal(hello.stdout, 'hello, world\n');
  const trap = cli(cache, 'run', fixture('wasi_misbehave.wasm'), 'trap');
  assert.equal(trap.status, 134);
  assert.match(trap.stderr, /trap \(unreachable\)/);
  assert.equal(cli(cache, 'run', '--fuel', '100000', fixture('wasi_misbehave.wasm'), 'loop').status, 137);
  assert.equal(cli(cache, 'run', '/definitely/not/here.wasm').status, 127);
  assert.equal(cli(cache, 'run', '--bogus', fixture('wasi_hello.wasm')).status, 2);
  const policy = join(cache, 'bad-policy.json');
  writeFileSync(policy, JSON.stringify({ capabilities: { filesytem: [] } }));
  const bad = cli(cache, 'run', '--policy', policy, fixture('wasi_hello.wasm'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /policy error: .*filesytem/);
  const inspected = cli(cache, 'inspect', '--json', fixture('wasi_hello.wasm'));
  assert.equal(inspected.status, 0, inspected.stderr);
  assert.equal(JSON.parse(inspected.stdout).wasi, 'preview1');
});

test('run writes its code cache once and reads it afterwards', () => {
  const cache = mkdtempSync(join(tmpdir(), 'bundle-cache-'));
  assert.equal(cli(cache, 'run', fixture('wasi_hello.wasm')).status, 0);
  const [entry] = codeCaches(cache);
  assert.ok(entry, 'a code cache was written');
  const path = join(cache, 'v8', entry);
  assert.equal(statSync(path).mode & 0o077, 0, 'readable by its owner only');
  const ino = statSync(path).ino;
  assert.equal(cli(cache, 'run', fixture('wasi_hello.wasm')).stdout, 'hello, world\n');
  // Entries are renamed into place, so a rewrite would show as a new inode.
  assert.equal(statSync(path).ino, ino, 'the second run used the cache instead of writing it again');
});

test('a damaged code cache is replaced, and a rebuilt bundle never reads an old one', () => {
  const cache = mkdtempSync(join(tmpdir(), 'bundle-cache-'));
  assert.equal(cli(cache, 'run', fixture('wasi_hello.wasm')).status, 0);
  const [entry] = codeCaches(cache);
  const path = join(cache, 'v8', entry);
  const { ino } = statSync(path);
  // Our header and key intact, V8's data garbage: the payload hash refuses it before V8 sees it.
  const data = readFileSync(path);
  data.fill(0x5a, ENTRY_HEADER_BYTES + data.readUInt32LE(4));
  writeFileSync(path, data, { mode: 0o600 });
  const damaged = cli(cache, 'run', fixture('wasi_hello.wasm'));
  assert.equal(damaged.status, 0, damaged.stderr);
  assert.equal(damaged.stdout, 'hello, world\n');
  assert.notEqual(statSync(path).ino, ino, 'the damaged entry was replaced');

  const later = new Date(Date.now() + 60_000);
  utimesSync(join(outdir, 'run.cjs'), later, later);
  assert.equal(cli(cache, 'run', fixture('wasi_hello.wasm')).stdout, 'hello, world\n');
  assert.equal(codeCaches(cache).length, 2, 'the rebuilt bundle has an entry of its own');
});

test('run --no-cache reads and writes nothing in the cache directory', () => {
  const cache = mkdtempSync(join(tmpdir(), 'bundle-cache-'));
  const r = cli(cache, 'run', '--no-cache', fixture('wasi_hello.wasm'));
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(cache), []);
});
