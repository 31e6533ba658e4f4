/**
 * The one reader for cache folders whose entries are code the host runs: private folders and files
 * only, no symlinks anywhere below the root, the key and the payload's hash compared, and a budget in
 * bytes and entries.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cacheMaxBytes, DEFAULT_CACHE_MAX_BYTES, PrivateCache } from '../src/cache-dir.ts';
import { InvalidArguments, WasmSandbox } from '../src/index.ts';

const BUDGET = { maxBytes: 1 << 20, maxEntries: 16 };
const payload = (text: string) => [Buffer.from(text)];

function fresh(): { root: string; cache: PrivateCache; entry: (name: string) => string } {
  const root = mkdtempSync(join(tmpdir(), 'private-cache-'));
  return { root, cache: new PrivateCache(root, 'code', BUDGET), entry: (name) => join(root, 'code', `${name}.bin`) };
}

describe('PrivateCache', () => {
  it('returns what was written for the same name and key only', () => {
    const { cache } = fresh();
    assert.equal(cache.read('a', 'k1'), undefined);
    assert.equal(cache.write('a', 'k1', payload('hello')), true);
    assert.equal(cache.read('a', 'k1')?.toString(), 'hello');
    assert.equal(cache.read('a', 'k2'), undefined, 'another key under the same name is a miss');
    assert.equal(cache.read('b', 'k1'), undefined);
  });

  it('a damaged payload or a misfiled entry is a miss', () => {
    const { cache, entry } = fresh();
    cache.write('a', 'k', payload('payload one'));
    const good = readFileSync(entry('a'));
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1] ^= 1;
    writeFileSync(entry('a'), flipped, { mode: 0o600 });
    assert.equal(cache.read('a', 'k'), undefined, 'payload differs from its hash');
    writeFileSync(entry('a'), good.subarray(0, good.length - 3), { mode: 0o600 });
    assert.equal(cache.read('a', 'k'), undefined, 'truncated');
    writeFileSync(entry('b'), good, { mode: 0o600 });
    assert.equal(cache.read('b', 'other key'), undefined, 'copied under another name');
  });

  it('a symlinked entry is never read, and the next write replaces the link, not its target', () => {
    const { root, cache, entry } = fresh();
    const elsewhere = fresh();
    elsewhere.cache.write('a', 'k', payload('planted'));
    cache.write('x', 'k', payload('make the folder'));
    symlinkSync(elsewhere.entry('a'), entry('a'));
    assert.equal(cache.read('a', 'k'), undefined);
    assert.equal(cache.write('a', 'k', payload('ours')), true);
    assert.ok(lstatSync(entry('a')).isFile());
    assert.equal(cache.read('a', 'k')?.toString(), 'ours');
    assert.equal(elsewhere.cache.read('a', 'k')?.toString(), 'planted', 'the link target was not written through');
    assert.ok(readdirSync(join(root, 'code')).every((n) => !n.endsWith('.tmp')));
  });

  it('a symlinked folder below the root is not used at all', () => {
    const { root, cache } = fresh();
    const elsewhere = fresh();
    elsewhere.cache.write('a', 'k', payload('planted'));
    symlinkSync(join(elsewhere.root, 'code'), join(root, 'code'));
    assert.equal(cache.read('a', 'k'), undefined);
    assert.equal(cache.write('b', 'k', payload('ours')), false);
    assert.deepEqual(readdirSync(join(elsewhere.root, 'code')), ['a.bin'], 'nothing written through the link');
  });

  it('an entry owned by another user or writable by others is a miss and is replaced', () => {
    const { cache, entry } = fresh();
    cache.write('a', 'k', payload('one'));
    chmodSync(entry('a'), 0o666);
    assert.equal(cache.read('a', 'k'), undefined, 'writable by others');
    chmodSync(entry('a'), 0o600);
    assert.equal(cache.read('a', 'k')?.toString(), 'one');
    if (process.getuid?.() === 0) {
      chownSync(entry('a'), 4242, 4242);
      assert.equal(cache.read('a', 'k'), undefined, 'owned by someone else');
    }
    cache.write('a', 'k', payload('two'));
    assert.equal(cache.read('a', 'k')?.toString(), 'two');
  });

  it('an entry that is a FIFO or a directory is a miss, without blocking on it', () => {
    const { cache, entry } = fresh();
    cache.write('x', 'k', payload('make the folder'));
    execFileSync('mkfifo', ['-m', '600', entry('fifo')]);
    assert.equal(cache.read('fifo', 'k'), undefined);
    mkdirSync(entry('dir'), { mode: 0o700 });
    assert.equal(cache.read('dir', 'k'), undefined);
  });

  it('folders others can write to, at the root or below, are not used', () => {
    const { root, cache } = fresh();
    mkdirSync(join(root, 'code'), { mode: 0o700 });
    chmodSync(join(root, 'code'), 0o777);
    assert.equal(cache.write('a', 'k', payload('x')), false);
    chmodSync(join(root, 'code'), 0o700);
    chmodSync(root, 0o770);
    assert.equal(cache.write('a', 'k', payload('x')), false);
    chmodSync(root, 0o700);
    assert.equal(cache.write('a', 'k', payload('x')), true);
    if (process.getuid?.() === 0) {
      chownSync(join(root, 'code'), 4242, 4242);
      assert.equal(cache.read('a', 'k'), undefined, 'a folder owned by someone else');
    }
  });

  it('keeps its budget of bytes, dropping the least recently used entries', () => {
    const root = mkdtempSync(join(tmpdir(), 'private-cache-'));
    const cache = new PrivateCache(root, 'code', { maxBytes: 350_000, maxEntries: 100 });
    const big = Buffer.alloc(100_000, 1);
    for (const name of ['a', 'b', 'c']) {
      assert.equal(cache.write(name, name, [big]), true);
      // Distinct ages without waiting: the order is what counts.
      const age = { a: 30, b: 20, c: 10 }[name]!;
      utimesSync(join(root, 'code', `${name}.bin`), Date.now() / 1000 - age, Date.now() / 1000 - age);
    }
    assert.ok(cache.read('a', 'a'), 'reading a makes it the most recently used');
    cache.write('d', 'd', [big]);
    assert.deepEqual(readdirSync(join(root, 'code')).sort(), ['a.bin', 'c.bin', 'd.bin']);
    assert.equal(cache.write('huge', 'huge', [Buffer.alloc(400_000)]), false, 'an entry over the whole budget is not written');
    assert.deepEqual(readdirSync(join(root, 'code')).sort(), ['a.bin', 'c.bin', 'd.bin']);
  });

  it('removes temporary files of writers long gone, and only those', () => {
    const { root, cache } = fresh();
    cache.write('a', 'k', payload('one'));
    const old = join(root, 'code', '.x.1.abc.tmp');
    const recent = join(root, 'code', '.y.2.def.tmp');
    writeFileSync(old, 'half');
    writeFileSync(recent, 'half');
    utimesSync(old, Date.now() / 1000 - 2 * 3600, Date.now() / 1000 - 2 * 3600);
    cache.write('b', 'k', payload('two'));
    assert.deepEqual(readdirSync(join(root, 'code')).sort(), ['.y.2.def.tmp', 'a.bin', 'b.bin']);
  });

  it('keeps its budget of entries', () => {
    const root = mkdtempSync(join(tmpdir(), 'private-cache-'));
    const cache = new PrivateCache(root, 'code', { maxBytes: 1 << 20, maxEntries: 3 });
    for (let i = 0; i < 5; i++) cache.write(`e${i}`, 'k', payload(String(i)));
    assert.equal(readdirSync(join(root, 'code')).length, 3);
    assert.ok(cache.read('e4', 'k'));
  });
});

describe('cache byte budget', () => {
  it('defaults to 512 MiB, follows WASM_SANDBOX_CACHE_MAX_BYTES, and an option wins', () => {
    const saved = process.env.WASM_SANDBOX_CACHE_MAX_BYTES;
    try {
      delete process.env.WASM_SANDBOX_CACHE_MAX_BYTES;
      assert.equal(cacheMaxBytes(), DEFAULT_CACHE_MAX_BYTES);
      assert.equal(DEFAULT_CACHE_MAX_BYTES, 512 * 1024 * 1024);
      process.env.WASM_SANDBOX_CACHE_MAX_BYTES = '1000';
      assert.equal(cacheMaxBytes(), 1000);
      assert.equal(cacheMaxBytes(5), 5);
      process.env.WASM_SANDBOX_CACHE_MAX_BYTES = 'lots';
      assert.equal(cacheMaxBytes(), DEFAULT_CACHE_MAX_BYTES, 'a value that is not a number of bytes is ignored');
    } finally {
      if (saved === undefined) delete process.env.WASM_SANDBOX_CACHE_MAX_BYTES;
      else process.env.WASM_SANDBOX_CACHE_MAX_BYTES = saved;
    }
  });

  it('a bad cacheMaxBytes option is InvalidArguments', async () => {
    for (const bad of [-1, 1.5, '1MiB', Number.NaN]) {
      await assert.rejects(WasmSandbox.create({ cacheDir: tmpdir(), cacheMaxBytes: bad as number }), InvalidArguments);
    }
  });
});

