import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCacheDir } from '../../src/cache-dir.ts';
import { TranspileCache } from '../../src/component/transpile-cache.ts';
import { fixturePath, runtime } from './helpers.ts';

test('a second load of the same bytes does not transpile again: memory, then disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'component-cache-'));
  try {
    TranspileCache.clearMemory();
    const first = await runtime({}, {}, { cacheDir: dir });
    const a = await first.createComponentModuleFromFile(fixturePath('greeter'));
    assert.deepEqual(first.cacheStats(), { transpiled: 1, memoryHits: 0, diskHits: 0 });
    const b = await first.createComponentModuleFromFile(fixturePath('greeter'));
    assert.deepEqual(first.cacheStats(), { transpiled: 1, memoryHits: 1, diskHits: 0 });
    assert.equal(a.hash, b.hash);

    // A fresh process has only the disk: simulate it by dropping the in-memory entries.
    TranspileCache.clearMemory();
    const second = await runtime({}, {}, { cacheDir: dir });
    const c = await second.createComponentModuleFromFile(fixturePath('greeter'));
    assert.deepEqual(second.cacheStats(), { transpiled: 0, memoryHits: 0, diskHits: 1 });
    assert.equal(await (await second.instantiate(c)).call('example:greeter/greet#hello', ['cache']), 'Hello, cache!');

    const entries = readdirSync(dir);
    assert.equal(entries.length, 1, 'one directory per jco version');
    assert.match(entries[0], /^jco-transpile-/);
    assert.ok(existsSync(join(dir, entries[0], a.hash, 'meta.json')));
    assert.equal(statSync(join(dir, entries[0])).mode & 0o077, 0, 'the cache is private to the user');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cacheDir: false keeps the cache in memory only', async () => {
  TranspileCache.clearMemory();
  const rt = await runtime({}, {}, { cacheDir: false });
  await rt.createComponentModuleFromFile(fixturePath('limits'));
  await rt.createComponentModuleFromFile(fixturePath('limits'));
  assert.deepEqual(rt.cacheStats(), { transpiled: 1, memoryHits: 1, diskHits: 0 });
});

test('the default cache directory follows WASM_SANDBOX_CACHE_DIR, then XDG_CACHE_HOME', () => {
  const saved = { own: process.env.WASM_SANDBOX_CACHE_DIR, xdg: process.env.XDG_CACHE_HOME };
  try {
    process.env.WASM_SANDBOX_CACHE_DIR = '/somewhere/else';
    assert.equal(defaultCacheDir(), '/somewhere/else');
    delete process.env.WASM_SANDBOX_CACHE_DIR;
    process.env.XDG_CACHE_HOME = '/xdg';
    assert.equal(defaultCacheDir(), '/xdg/wasm-sandbox');
    delete process.env.XDG_CACHE_HOME;
    assert.match(defaultCacheDir(), /\.cache\/wasm-sandbox$/);
  } finally {
    if (saved.own === undefined) delete process.env.WASM_SANDBOX_CACHE_DIR;
    else process.env.WASM_SANDBOX_CACHE_DIR = saved.own;
    if (saved.xdg === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved.xdg;
  }
});
