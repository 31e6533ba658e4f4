import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { instrument } from '../../src/module/instrument.ts';
import { inspect } from '../../src/module/inspect.ts';
import { InstrumentedStore } from '../../src/runtime/limits/instrumented-store.ts';
import { ResourceLimitExceeded, WasmSandbox } from '../../src/index.ts';

const LIMITS = readFileSync(new URL('../../fixtures/wat/limits.wasm', import.meta.url));
const GROW_ONLY = { meter: false, routeMemoryGrow: true, memoryMaxPages: 16 };
const METERED = { meter: true, routeMemoryGrow: true, memoryMaxPages: 16 };

function variant(options: typeof GROW_ONLY) {
  const { bytes } = instrument(LIMITS, options);
  return { bytes, info: inspect(bytes) };
}

function entries(cacheDir: string): string[] {
  try {
    return readdirSync(join(cacheDir, 'instrumented')).filter((n) => n.endsWith('.bin'));
  } catch {
    return [];
  }
}

test('a stored variant comes back for the same bytes and options only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'istore-'));
  const store = new InstrumentedStore(dir);
  assert.equal(store.get(LIMITS, GROW_ONLY), undefined, 'empty store');
  const grow = variant(GROW_ONLY);
  store.put(LIMITS, GROW_ONLY, grow);
  const hit = new InstrumentedStore(dir).get(LIMITS, GROW_ONLY);
  assert.ok(hit);
  assert.deepEqual(Buffer.from(hit.bytes), Buffer.from(grow.bytes));
  assert.deepEqual(hit.info, grow.info);
  assert.equal(store.get(LIMITS, METERED), undefined, 'other options are another entry');
  assert.equal(store.get(LIMITS, { ...GROW_ONLY, memoryMaxPages: 17 }), undefined);
  const other = Uint8Array.from(LIMITS);
  other[other.length - 1] ^= 1;
  assert.equal(store.get(other, GROW_ONLY), undefined, 'other bytes are another entry');
  store.put(LIMITS, METERED, variant(METERED));
  assert.equal(entries(dir).length, 2);
});

test('a damaged, truncated or misfiled entry is a miss, never a wrong module', () => {
  const dir = mkdtempSync(join(tmpdir(), 'istore-'));
  const store = new InstrumentedStore(dir);
  store.put(LIMITS, GROW_ONLY, variant(GROW_ONLY));
  const [growFile] = entries(dir);
  const path = join(dir, 'instrumented', growFile);
  const good = readFileSync(path);

  writeFileSync(path, good.subarray(0, good.length >> 1), { mode: 0o600 });
  assert.equal(new InstrumentedStore(dir).get(LIMITS, GROW_ONLY), undefined, 'truncated');
  const flipped = Buffer.from(good);
  flipped[good.length - 8] ^= 0xff; // inside the stored module
  writeFileSync(path, flipped, { mode: 0o600 });
  assert.equal(new InstrumentedStore(dir).get(LIMITS, GROW_ONLY), undefined, 'payload differs from its hash');
  writeFileSync(path, good, { mode: 0o600 });

  // An entry for weaker options placed under the name of stronger ones (say, by a hard link) must not
  // pass for them: the key inside the entry is compared too.
  store.put(LIMITS, METERED, variant(METERED));
  const meteredFile = entries(dir).find((n) => n !== growFile)!;
  renameSync(join(dir, 'instrumented', meteredFile), join(dir, 'instrumented', `${meteredFile}.bak`));
  linkSync(path, join(dir, 'instrumented', meteredFile));
  assert.equal(new InstrumentedStore(dir).get(LIMITS, METERED), undefined, 'misfiled');
});

test('a cache directory others can write to is not used', () => {
  const dir = mkdtempSync(join(tmpdir(), 'istore-'));
  mkdirSync(join(dir, 'instrumented'), { mode: 0o700 });
  chmodSync(join(dir, 'instrumented'), 0o777);
  const store = new InstrumentedStore(dir);
  store.put(LIMITS, GROW_ONLY, variant(GROW_ONLY));
  assert.deepEqual(entries(dir), [], 'nothing written');
  chmodSync(join(dir, 'instrumented'), 0o700);
  new InstrumentedStore(dir).put(LIMITS, GROW_ONLY, variant(GROW_ONLY));
  const [file] = entries(dir);
  chmodSync(join(dir, 'instrumented', file), 0o666);
  assert.equal(new InstrumentedStore(dir).get(LIMITS, GROW_ONLY), undefined, 'an entry others can write is not read');
});

for (const runtime of ['inprocess', 'worker'] as const) {
  test(`${runtime} instances built from stored variants enforce the same limits`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'istore-'));
    const limits = { memory: { maxMemoryBytes: '1MiB' } };
    let inode: number | undefined;
    for (const round of ['cold', 'from disk']) {
      const sandbox = await WasmSandbox.create({ runtime, cacheDir: dir });
      const moduleId = await sandbox.loadModule(LIMITS);
      const id = await sandbox.createInstance(moduleId, { resourceLimits: limits });
      const refused: unknown[] = [];
      sandbox.on('limit', (e) => refused.push(e.error));
      assert.equal(await sandbox.callFunction(id, 'grow', [100]), -1, `${round}: grow past 1 MiB refused`);
      assert.ok(refused[0] instanceof ResourceLimitExceeded, `${round}: the refusal is reported`);
      await sandbox.close();
      const files = entries(dir);
      assert.equal(files.length, 1, `${round}: one entry`);
      // Entries are renamed into place, so a rewrite would show as a new inode.
      const ino = statSync(join(dir, 'instrumented', files[0])).ino;
      if (inode !== undefined) assert.equal(ino, inode, 'the second sandbox read the entry instead of rewriting the module');
      inode = ino;
    }
  });
}

test('wasm-sandbox run keeps the rewrite in the cache directory unless told not to', () => {
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const hello = fileURLToPath(new URL('../../fixtures/wat/wasi_hello.wasm', import.meta.url));
  const run = (cacheDir: string, ...flags: string[]) => {
    const r = spawnSync(process.execPath, [cli, 'run', ...flags, hello], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', WASM_SANDBOX_CACHE_DIR: cacheDir } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hello, world\n');
  };
  const off = mkdtempSync(join(tmpdir(), 'istore-cli-'));
  run(off, '--no-cache');
  assert.deepEqual(entries(off), []);
  const on = mkdtempSync(join(tmpdir(), 'istore-cli-'));
  run(on);
  assert.equal(entries(on).length, 1);
  run(on);
  assert.equal(entries(on).length, 1, 'the second run reads the entry instead of writing another');
});

test('the store keeps a bounded number of entries, dropping the oldest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'istore-'));
  const store = new InstrumentedStore(dir);
  const grow = variant(GROW_ONLY);
  // 300 distinct "originals" (the store never parses them) under the same options.
  for (let i = 0; i < 300; i++) {
    const original = Uint8Array.from(LIMITS);
    new DataView(original.buffer).setUint32(0, i);
    store.put(original, GROW_ONLY, grow);
  }
  assert.equal(entries(dir).length, 256);
  const newest = Uint8Array.from(LIMITS);
  new DataView(newest.buffer).setUint32(0, 299);
  assert.ok(store.get(newest, GROW_ONLY), 'the newest entry is kept');
});


test('a symlinked or foreign entry is never run: run --timeout still stops a planted uninstrumented spin', async () => {
  const { wat } = await import('../helpers/wat.ts');
  const { ENTRY_HEADER_BYTES: ENTRY_HEADER, PrivateCache } = await import('../../src/cache-dir.ts');
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const work = mkdtempSync(join(tmpdir(), 'istore-plant-'));
  const spinPath = join(work, 'spin.wasm');
  const spin = await wat(`(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
    (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))`);
  writeFileSync(spinPath, spin);
  const cacheDir = join(work, 'cache');
  const run = () => spawnSync(process.execPath, [cli, 'run', '--timeout', '1s', spinPath], {
    encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '', WASM_SANDBOX_CACHE_DIR: cacheDir },
  });
  assert.equal(run().status, 124, 'the genuine instrumented module times out');
  const [name] = entries(cacheDir);
  const path = join(cacheDir, 'instrumented', name);
  const genuine = readFileSync(path);
  const key = genuine.toString('utf8', ENTRY_HEADER, ENTRY_HEADER + genuine.readUInt32LE(4));
  // The attacker's entry: the right key and hash, but the module as it was, with no fuel counter.
  const attacker = join(work, 'attacker');
  mkdirSync(attacker, { mode: 0o700 });
  const info = Buffer.from(JSON.stringify(inspect(spin)));
  const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
  const payload = [u32(info.length), info, spin];
  assert.ok(new PrivateCache(attacker, 'instrumented', { maxBytes: 1 << 20, maxEntries: 4 }).write(name.slice(0, -4), key, payload));
  const planted = join(attacker, 'instrumented', name);
  renameSync(path, `${path}.genuine`);
  symlinkSync(planted, path);
  // Control: the planted entry is well-formed, so as a private file of our own it would be used.
  assert.ok(new InstrumentedStore(attacker).get(spin, JSON.parse(key.split('|')[2])), 'the planted entry is a valid uninstrumented variant');
  const r = run();
  assert.equal(r.status, 124, `a symlinked entry is not followed (status ${r.status}, signal ${r.signal})`);
  assert.ok(lstatSync(path).isFile(), 'the link was replaced by a rewrite');
  if (process.getuid?.() === 0) {
    chownSync(path, 4242, 4242);
    assert.equal(run().status, 124, 'an entry owned by someone else is not used');
    assert.equal(statSync(path).uid, 0, 'and is replaced');
  }
});

test('a large original is not kept in its entry, only its hash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'istore-'));
  const store = new InstrumentedStore(dir);
  const grow = variant(GROW_ONLY);
  const large = new Uint8Array(3 * 1024 * 1024);
  large.set(LIMITS);
  store.put(large, GROW_ONLY, grow);
  const [file] = entries(dir);
  assert.ok(statSync(join(dir, 'instrumented', file)).size < 64 * 1024, 'the entry holds the variant, not the 3 MiB original');
  assert.deepEqual(Buffer.from(new InstrumentedStore(dir).get(large, GROW_ONLY)!.bytes), Buffer.from(grow.bytes));
  const other = Uint8Array.from(large);
  other[2 * 1024 * 1024] = 1;
  assert.equal(store.get(other, GROW_ONLY), undefined, 'one byte different anywhere is another module');
});
