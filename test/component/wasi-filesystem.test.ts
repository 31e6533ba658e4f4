/**
 * Filesystem confinement of the preview2 host, driven by a real JS component (fs-cli) that hands
 * every path to the host untouched: reads inside a preopen work, and `..`, symlinks and absolute
 * links never leave it; a read-only preopen refuses every mutation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Capabilities, type ComponentInstance, type Violation } from '../../src/index.ts';
import { load, runtime, text } from './helpers.ts';

const SECRET = 'TOP-SECRET';

function tree() {
  const root = mkdtempSync(join(tmpdir(), 'component-fs-'));
  mkdirSync(join(root, 'outside'));
  writeFileSync(join(root, 'outside', 'secret.txt'), SECRET);
  for (const name of ['box', 'ro']) {
    const dir = join(root, name);
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'data.txt'), `${name} data`);
    writeFileSync(join(dir, 'sub', 'inner.txt'), 'inner');
    symlinkSync('..', join(dir, 'dir_link'));
    symlinkSync('../outside/secret.txt', join(dir, 'file_link'));
    symlinkSync(join(root, 'outside', 'secret.txt'), join(dir, 'abs_link'));
    symlinkSync('../outside/created.txt', join(dir, 'escape_create'));
    symlinkSync('data.txt', join(dir, 'inside_link'));
    symlinkSync('sub', join(dir, 'sub_link'));
  }
  return { root, box: join(root, 'box'), ro: join(root, 'ro'), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

interface Run {
  out: string;
  result: unknown;
  exitCode: number | undefined;
  violations: Violation[];
  instance: ComponentInstance;
}

async function fsCli(t: ReturnType<typeof tree>, args: string[]): Promise<Run> {
  const rt = await runtime();
  const violations: Violation[] = [];
  const capabilities = Capabilities.captured().withPreopen(t.box, '/box', 'read-write').withPreopen(t.ro, '/ro', 'read').withArgs(args);
  const instance = await rt.instantiate(await load('fs-cli'), { capabilities, onViolation: (v) => violations.push(v) });
  const result = await instance.call('wasi:cli/run#run');
  return { out: text(instance.stdout()).trimEnd(), result, exitCode: instance.exitCode, violations, instance };
}

test('reads inside a preopen work, including through symlinks that stay inside', async () => {
  const t = tree();
  try {
    assert.equal((await fsCli(t, ['cat', '/box/data.txt'])).out, 'box data');
    assert.equal((await fsCli(t, ['cat', '/ro/sub/inner.txt'])).out, 'inner');
    assert.equal((await fsCli(t, ['cat', '/ro/inside_link'])).out, 'ro data');
    assert.equal((await fsCli(t, ['cat', '/box/sub_link/inner.txt'])).out, 'inner');
    assert.equal((await fsCli(t, ['cat', '/box/sub/../data.txt'])).out, 'box data', '`..` that stays inside is fine');
    const ls = await fsCli(t, ['ls', '/ro']);
    assert.match(ls.out, /data\.txt:regular-file/);
    assert.match(ls.out, /sub:directory/);
    assert.match(ls.out, /dir_link:symbolic-link/);
    assert.equal((await fsCli(t, ['stat', '/ro/data.txt'])).out, 'regular-file 7');
  } finally {
    t.cleanup();
  }
});

test('`..`, relative and absolute symlinks never leave the preopen', async () => {
  const t = tree();
  try {
    for (const path of [
      '/box/../outside/secret.txt',
      '/ro/../outside/secret.txt',
      '/box/sub/../../outside/secret.txt',
      '/box/dir_link/outside/secret.txt',
      '/ro/dir_link/outside/secret.txt',
      '/box/file_link',
      '/ro/abs_link',
      '/box/sub_link/../../outside/secret.txt',
    ]) {
      const run = await fsCli(t, ['cat', path]);
      assert.equal(run.out, 'error: not-permitted', path);
      assert.doesNotMatch(run.out, new RegExp(SECRET));
      assert.equal(run.exitCode, 1);
      assert.ok(run.violations.some((v) => v.capability === 'filesystem' && /escapes preopen/.test(v.detail)), path);
    }
  } finally {
    t.cleanup();
  }
});

test('writes in a read-only preopen are refused before the host is touched', async () => {
  const t = tree();
  try {
    for (const args of [['write', '/ro/new.txt', 'x'], ['write', '/ro/data.txt', 'overwritten'], ['append', '/ro/data.txt', 'more'], ['mkdir', '/ro/newdir'], ['rm', '/ro/data.txt']]) {
      const run = await fsCli(t, args);
      assert.equal(run.out, 'error: not-permitted', args.join(' '));
      assert.ok(run.violations.some((v) => /read-only/.test(v.detail)), args.join(' '));
    }
    assert.equal(readFileSync(join(t.ro, 'data.txt'), 'utf8'), 'ro data');
    assert.equal(existsSync(join(t.ro, 'new.txt')), false);
    assert.equal(existsSync(join(t.ro, 'newdir')), false);
  } finally {
    t.cleanup();
  }
});

test('a writable preopen takes writes, but not through a link leading out of it', async () => {
  const t = tree();
  try {
    assert.equal((await fsCli(t, ['write', '/box/new.txt', 'written'])).out, 'ok');
    assert.equal(readFileSync(join(t.box, 'new.txt'), 'utf8'), 'written');
    assert.equal((await fsCli(t, ['append', '/box/new.txt', '+more'])).out, 'ok');
    assert.equal(readFileSync(join(t.box, 'new.txt'), 'utf8'), 'written+more');
    assert.equal((await fsCli(t, ['mkdir', '/box/made'])).out, 'ok');
    assert.ok(existsSync(join(t.box, 'made')));
    assert.equal((await fsCli(t, ['rm', '/box/new.txt'])).out, 'ok');
    assert.equal(existsSync(join(t.box, 'new.txt')), false);
    for (const path of ['/box/escape_create', '/box/../outside/created.txt', '/box/dir_link/outside/created.txt']) {
      assert.equal((await fsCli(t, ['write', path, 'x'])).out, 'error: not-permitted', path);
    }
    assert.equal(existsSync(join(t.root, 'outside', 'created.txt')), false);
    assert.equal(readFileSync(join(t.root, 'outside', 'secret.txt'), 'utf8'), SECRET);
  } finally {
    t.cleanup();
  }
});

test('with no preopens granted the component sees no directories at all', async () => {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('fs-cli'), { capabilities: Capabilities.captured().withArgs(['cat', '/etc/passwd']) });
  await instance.call('wasi:cli/run#run');
  assert.equal(text(instance.stdout()).trim(), 'error: no-preopen');
});

test('closing an instance releases every host descriptor it held', { skip: !existsSync('/proc/self/fd') }, async () => {
  const t = tree();
  try {
    const before = readdirSync('/proc/self/fd').length;
    const run = await fsCli(t, ['cat', '/box/data.txt']);
    assert.ok(run.instance.metrics().openFiles >= 2, 'the preopens (and any file the guest kept) are open');
    run.instance.close();
    assert.equal(readdirSync('/proc/self/fd').length, before);
  } finally {
    t.cleanup();
  }
});
