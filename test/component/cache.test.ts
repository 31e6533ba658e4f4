import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
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

    assert.deepEqual(readdirSync(dir), ['transpiled']);
    assert.ok(existsSync(join(dir, 'transpiled', `${a.hash}.bin`)), 'one file per component');
    assert.equal(statSync(join(dir, 'transpiled')).mode & 0o077, 0, 'the cache is private to the user');
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

test('a planted transpile entry is imported only when private; loose or symlinked, it is ignored, replaced and never run', async () => {
  const { chmodSync, copyFileSync, lstatSync, mkdirSync, renameSync, symlinkSync } = await import('node:fs');
  const { ENTRY_HEADER_BYTES, PrivateCache } = await import('../../src/cache-dir.ts');
  const { decodeEntry, encodeEntry } = await import('../../src/component/transpile-cache.ts');
  const dir = mkdtempSync(join(tmpdir(), 'component-cache-'));
  const attacker = mkdtempSync(join(tmpdir(), 'component-cache-attacker-'));
  const flag = '__wasmSandboxPlantedGlue';
  const g = globalThis as Record<string, unknown>;
  try {
    TranspileCache.clearMemory();
    const first = await (await runtime({}, {}, { cacheDir: dir })).createComponentModuleFromFile(fixturePath('greeter'));
    const budget = { maxBytes: 1 << 26, maxEntries: 4 };
    const entry = join(dir, 'transpiled', `${first.hash}.bin`);
    const genuine = readFileSync(entry);
    const key = genuine.toString('utf8', ENTRY_HEADER_BYTES, ENTRY_HEADER_BYTES + genuine.readUInt32LE(4));
    const decoded = decodeEntry(new PrivateCache(dir, 'transpiled', budget).read(first.hash, key)!)!;
    // The attacker's glue does what the real one does, and marks that it ran as host code.
    const evilGlue = Buffer.concat([Buffer.from(`globalThis.${flag} = (globalThis.${flag} ?? 0) + 1;\n`), decoded.glue]);
    assert.ok(new PrivateCache(attacker, 'transpiled', budget).write(first.hash, key, encodeEntry(evilGlue, decoded.coreModules, decoded.imports)));
    const planted = join(attacker, 'transpiled', `${first.hash}.bin`);

    const loadAgain = async () => {
      TranspileCache.clearMemory();
      const rt = await runtime({}, {}, { cacheDir: dir });
      await rt.createComponentModuleFromFile(fixturePath('greeter'));
      return rt.cacheStats();
    };

    renameSync(entry, `${entry}.genuine`);
    copyFileSync(planted, entry);
    chmodSync(entry, 0o666);
    delete g[flag];
    assert.deepEqual(await loadAgain(), { transpiled: 1, memoryHits: 0, diskHits: 0 }, 'a mode-666 entry is a miss');
    assert.equal(g[flag], undefined, 'and its glue never ran');
    assert.equal(lstatSync(entry).mode & 0o777, 0o600, 'it was replaced');

    symlinkSync(planted, `${entry}.link`);
    renameSync(`${entry}.link`, entry);
    assert.deepEqual(await loadAgain(), { transpiled: 1, memoryHits: 0, diskHits: 0 }, 'a symlinked entry is a miss');
    assert.equal(g[flag], undefined);
    assert.ok(lstatSync(entry).isFile());

    if (process.getuid?.() === 0) {
      copyFileSync(planted, entry);
      chmodSync(entry, 0o600);
      const { chownSync } = await import('node:fs');
      chownSync(entry, 4242, 4242);
      assert.deepEqual(await loadAgain(), { transpiled: 1, memoryHits: 0, diskHits: 0 }, 'an entry owned by someone else is a miss');
      assert.equal(g[flag], undefined);
      assert.equal(lstatSync(entry).uid, 0, 'and is replaced');
    }

    // Control: the same bytes as a private file of our own are trusted, so the checks above are what kept it out.
    copyFileSync(planted, entry);
    chmodSync(entry, 0o600);
    assert.deepEqual(await loadAgain(), { transpiled: 0, memoryHits: 0, diskHits: 1 });
    assert.equal(g[flag], 1);

    const shared = mkdtempSync(join(tmpdir(), 'component-cache-shared-'));
    mkdirSync(join(shared, 'transpiled'), { mode: 0o700 });
    chmodSync(join(shared, 'transpiled'), 0o777);
    copyFileSync(planted, join(shared, 'transpiled', `${first.hash}.bin`));
    chmodSync(join(shared, 'transpiled', `${first.hash}.bin`), 0o600);
    delete g[flag];
    TranspileCache.clearMemory();
    const rt = await runtime({}, {}, { cacheDir: shared });
    await rt.createComponentModuleFromFile(fixturePath('greeter'));
    assert.equal(g[flag], undefined, 'a folder others can write to is not read');
  } finally {
    delete g[flag];
    TranspileCache.clearMemory();
    rmSync(dir, { recursive: true, force: true });
    rmSync(attacker, { recursive: true, force: true });
  }
});

test('the transpile cache keeps its byte budget', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'component-cache-'));
  try {
    TranspileCache.clearMemory();
    const rt = await runtime({}, {}, { cacheDir: dir, cacheMaxBytes: 1 });
    const c = await rt.createComponentModuleFromFile(fixturePath('greeter'));
    assert.equal(existsSync(join(dir, 'transpiled', `${c.hash}.bin`)), false, 'an entry over the budget is not kept');
    assert.equal(await (await rt.instantiate(c)).call('example:greeter/greet#hello', ['budget']), 'Hello, budget!', 'and the component still works');
  } finally {
    TranspileCache.clearMemory();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('folders of the layout before are removed when a new entry is written', async () => {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'component-cache-'));
  try {
    mkdirSync(join(dir, 'jco-transpile-1.0.0-glue3', 'abc'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'jco-transpile-1.0.0-glue3', 'abc', 'component.mjs'), '// old');
    mkdirSync(join(dir, 'unrelated'), { mode: 0o700 });
    TranspileCache.clearMemory();
    await (await runtime({}, {}, { cacheDir: dir })).createComponentModuleFromFile(fixturePath('greeter'));
    assert.deepEqual(readdirSync(dir).sort(), ['transpiled', 'unrelated']);
  } finally {
    TranspileCache.clearMemory();
    rmSync(dir, { recursive: true, force: true });
  }
});
