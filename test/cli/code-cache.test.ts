/**
 * The CLI's V8 code cache is bytecode the host runs: V8 checks a cache only against the source's
 * length, so a planted entry made from other source of the same length would run that source.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ENTRY_HEADER_BYTES as ENTRY_HEADER } from '../../src/cache-dir.ts';

const CODE_CACHE = fileURLToPath(new URL('../../src/cli/code-cache.ts', import.meta.url));
const CACHE_DIR_TS = fileURLToPath(new URL('../../src/cache-dir.ts', import.meta.url));

/** Loads `file` through the code cache in a fresh process, as main.js does, and prints what it exports. */
function load(file: string, cacheDir: string): string {
  const script = `const { loadWithCodeCache } = await import(${JSON.stringify(CODE_CACHE)}); console.log(loadWithCodeCache(${JSON.stringify(file)}, ${JSON.stringify(cacheDir)}).who);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** V8 code for `source` (wrapped as the loader wraps it), made in a fresh process with the same flags. */
function bytecodeFor(source: string, filename: string): Buffer {
  const script = `import { Script } from 'node:vm';
    const s = new Script('(function (exports, require, module, __filename, __dirname) {' + ${JSON.stringify(source)} + '\\n})', { filename: ${JSON.stringify(filename)} });
    const m = { exports: {} }; s.runInThisContext()(m.exports, null, m, '', '');
    process.stdout.write(s.createCachedData().toString('base64'));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Buffer.from(r.stdout, 'base64');
}

/** Writes an entry for `key` holding `data` through the cache's own writer, in a folder of `root`. */
function plant(root: string, name: string, key: string, data: Buffer): string {
  const script = `const { PrivateCache } = await import(${JSON.stringify(CACHE_DIR_TS)});
    new PrivateCache(${JSON.stringify(root)}, 'v8', { maxBytes: 1 << 24, maxEntries: 4 }).write(${JSON.stringify(name)}, ${JSON.stringify(key)}, [Buffer.from(${JSON.stringify(data.toString('base64'))}, 'base64')]);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return join(root, 'v8', `${name}.bin`);
}

test('a planted code cache runs only when it is a private regular file; symlinked or loose, it is ignored and replaced', () => {
  const work = mkdtempSync(join(tmpdir(), 'code-cache-'));
  const file = join(work, 'command.cjs');
  const real = "module.exports = { who: 'real' };";
  const evil = "module.exports = { who: 'evil' };";
  assert.equal(real.length, evil.length);
  writeFileSync(file, real);
  const cacheDir = join(work, 'cache');
  assert.equal(load(file, cacheDir), 'real');
  const [entryName] = readdirSync(join(cacheDir, 'v8'));
  const entry = join(cacheDir, 'v8', entryName);
  const genuine = readFileSync(entry);
  const key = genuine.toString('utf8', ENTRY_HEADER, ENTRY_HEADER + genuine.readUInt32LE(4));

  const attacker = join(work, 'attacker');
  mkdirSync(attacker, { mode: 0o700 });
  const planted = plant(attacker, entryName.slice(0, -4), key, bytecodeFor(evil, file));

  // The attack is real: the same entry as a private file of our own does run the other source.
  renameSync(entry, `${entry}.genuine`);
  copyFileSync(planted, entry);
  chmodSync(entry, 0o600);
  assert.equal(load(file, cacheDir), 'evil', 'control: V8 accepts bytecode of other source of the same length');

  symlinkSync(planted, `${entry}.link`);
  renameSync(`${entry}.link`, entry);
  assert.equal(load(file, cacheDir), 'real', 'a symlinked entry is not followed');
  assert.ok(lstatSync(entry).isFile(), 'and is replaced at exit');
  assert.equal(load(file, cacheDir), 'real');

  copyFileSync(planted, entry);
  chmodSync(entry, 0o666);
  assert.equal(load(file, cacheDir), 'real', 'an entry others can write is not used');
  assert.equal(lstatSync(entry).mode & 0o777, 0o600, 'and is replaced');

  if (process.getuid?.() === 0) {
    copyFileSync(planted, entry);
    chmodSync(entry, 0o600);
    chownSync(entry, 4242, 4242);
    assert.equal(load(file, cacheDir), 'real', 'an entry owned by someone else is not used');
    assert.equal(lstatSync(entry).uid, 0, 'and is replaced');
  }
});
