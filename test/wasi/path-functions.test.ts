/**
 * Conformance of the path functions (path_*): open flags, create/remove, rename, links, symlinks,
 * and the errnos POSIX programs rely on.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FILETYPE, OFLAGS, RIGHTS } from '../../src/wasi/constants.ts';
import { ERRNO } from '../../src/wasi/errno.ts';
import { RawGuest } from './raw-guest.ts';

let dir: string;
let g: RawGuest;
const ROOT = 3;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wasi-path-'));
  writeFileSync(join(dir, 'file.txt'), 'content\n');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'inner.txt'), 'inner\n');
  g = new RawGuest({ capabilities: { filesystem: [{ hostPath: dir, guestPath: '.', mode: 'read-write' }] } });
});

afterEach(() => {
  g.host.close();
  rmSync(dir, { recursive: true, force: true });
});

function stat(path: string, follow = true): [number, { type: number; size: bigint; mtim: bigint }] {
  const p = g.put(path);
  const buf = g.alloc(64);
  const e = g.call('path_filestat_get', ROOT, follow ? 1 : 0, p.ptr, p.len, buf);
  return [e, { type: g.u8(buf + 16), size: g.u64(buf + 32), mtim: g.u64(buf + 48) }];
}

function twoPaths(name: string, a: string, b: string): number {
  const pa = g.put(a);
  const pb = g.put(b);
  return g.call(name, ROOT, pa.ptr, pa.len, ROOT, pb.ptr, pb.len);
}

function link(a: string, b: string, follow = 0): number {
  const pa = g.put(a);
  const pb = g.put(b);
  return g.call('path_link', ROOT, follow, pa.ptr, pa.len, ROOT, pb.ptr, pb.len);
}

function symlink(target: string, path: string): number {
  const pt = g.put(target);
  const pp = g.put(path);
  return g.call('path_symlink', pt.ptr, pt.len, ROOT, pp.ptr, pp.len);
}

function readlink(path: string, size: number): [number, string] {
  const p = g.put(path);
  const buf = g.alloc(size);
  const used = g.alloc(4);
  const e = g.call('path_readlink', ROOT, p.ptr, p.len, buf, size, used);
  return [e, e === 0 ? g.text(buf, g.u32(used)) : ''];
}

describe('path_open', () => {
  it('creates, refuses O_EXCL on existing files, truncates, and checks directories', () => {
    const [e1, fd] = g.open(ROOT, 'new.txt', { oflags: OFLAGS.CREAT });
    assert.equal(e1, 0);
    assert.deepEqual(g.write(fd, 'abc'), [0, 3]);
    assert.equal(readFileSync(join(dir, 'new.txt'), 'utf8'), 'abc');
    assert.equal(g.open(ROOT, 'new.txt', { oflags: OFLAGS.CREAT | OFLAGS.EXCL })[0], ERRNO.EXIST);
    assert.equal(g.open(ROOT, 'new.txt', { oflags: OFLAGS.TRUNC })[0], 0);
    assert.equal(statSync(join(dir, 'new.txt')).size, 0);
    assert.equal(g.open(ROOT, 'missing.txt')[0], ERRNO.NOENT);
    assert.equal(g.open(ROOT, 'file.txt', { oflags: OFLAGS.DIRECTORY })[0], ERRNO.NOTDIR);
    assert.equal(g.open(ROOT, 'file.txt/')[0], ERRNO.NOTDIR);
    assert.equal(g.open(ROOT, 'sub/', { base: BigInt(RIGHTS.FD_READDIR) })[0], 0);
    assert.equal(g.open(ROOT, 'sub', { oflags: OFLAGS.DIRECTORY, base: BigInt(RIGHTS.FD_READ | RIGHTS.FD_WRITE) })[0], ERRNO.ISDIR);
    assert.equal(g.open(ROOT, 'x', { oflags: OFLAGS.DIRECTORY | OFLAGS.CREAT })[0], ERRNO.INVAL);
    assert.equal(g.open(ROOT, 'x', { oflags: 0x10 })[0], ERRNO.INVAL);
    const [, fileFd] = g.open(ROOT, 'file.txt');
    assert.equal(g.open(fileFd, 'x')[0], ERRNO.NOTDIR, 'a file is not a directory to open from');
  });

  it('follows symlinks only with the lookup flag', () => {
    symlinkSync('file.txt', join(dir, 'link'));
    assert.equal(g.open(ROOT, 'link', { lookup: 0 })[0], ERRNO.LOOP);
    const [e, fd] = g.open(ROOT, 'link', { lookup: 1 });
    assert.equal(e, 0);
    assert.deepEqual(g.read(fd, 7), [0, 'content']);
  });

  it('resolves . and .. inside the preopen', () => {
    const [e, fd] = g.open(ROOT, 'sub/./../sub//inner.txt');
    assert.equal(e, 0);
    assert.deepEqual(g.read(fd, 5), [0, 'inner']);
    const [e2, d] = g.open(ROOT, 'sub/..', { oflags: OFLAGS.DIRECTORY });
    assert.equal(e2, 0);
    const [e3, fd3] = g.open(d, 'file.txt');
    assert.equal(e3, 0);
    assert.deepEqual(g.read(fd3, 7), [0, 'content']);
  });

  it('confines a subdirectory descriptor to that subdirectory', () => {
    const [, sub] = g.open(ROOT, 'sub', { oflags: OFLAGS.DIRECTORY });
    assert.equal(g.open(sub, 'inner.txt')[0], 0);
    assert.equal(g.open(sub, '../file.txt')[0], ERRNO.PERM);
  });

  it('rejects invalid UTF-8 and NUL bytes in paths', () => {
    const bad = g.put(new Uint8Array([0x66, 0xff, 0x66]));
    const out = g.alloc(4);
    assert.equal(g.call('path_open', ROOT, 0, bad.ptr, bad.len, 0, 2n, 0n, 0, out), ERRNO.ILSEQ);
    const nul = g.put('file.txt\0');
    assert.equal(g.call('path_open', ROOT, 0, nul.ptr, nul.len, 0, 2n, 0n, 0, out), ERRNO.INVAL);
    const empty = g.put('');
    assert.equal(g.call('path_open', ROOT, 0, empty.ptr, 0, 0, 2n, 0n, 0, out), ERRNO.NOENT);
  });
});

describe('directories', () => {
  it('creates and removes directories with the POSIX errors', () => {
    assert.equal(g.pathCall('path_create_directory', ROOT, 'newdir'), 0);
    assert.ok(statSync(join(dir, 'newdir')).isDirectory());
    assert.equal(g.pathCall('path_create_directory', ROOT, 'newdir'), ERRNO.EXIST);
    assert.equal(g.pathCall('path_create_directory', ROOT, 'missing/newdir'), ERRNO.NOENT);
    assert.equal(g.pathCall('path_create_directory', ROOT, 'nested/'), 0);
    assert.equal(g.pathCall('path_remove_directory', ROOT, 'sub'), ERRNO.NOTEMPTY);
    assert.equal(g.pathCall('path_remove_directory', ROOT, 'file.txt'), ERRNO.NOTDIR);
    assert.equal(g.pathCall('path_remove_directory', ROOT, 'newdir/'), 0);
    assert.equal(existsSync(join(dir, 'newdir')), false);
    assert.equal(g.pathCall('path_remove_directory', ROOT, '.'), ERRNO.INVAL);
  });

  it('unlinks files but not directories', () => {
    assert.equal(g.pathCall('path_unlink_file', ROOT, 'sub'), ERRNO.ISDIR);
    assert.equal(g.pathCall('path_unlink_file', ROOT, 'sub/'), ERRNO.ISDIR);
    assert.equal(g.pathCall('path_unlink_file', ROOT, 'file.txt/'), ERRNO.NOTDIR);
    assert.equal(g.pathCall('path_unlink_file', ROOT, 'nope'), ERRNO.NOENT);
    assert.equal(g.pathCall('path_unlink_file', ROOT, 'file.txt'), 0);
    assert.equal(existsSync(join(dir, 'file.txt')), false);
  });
});

describe('path_filestat_get / set_times', () => {
  it('stats with and without following, and sets times exactly', () => {
    symlinkSync('sub', join(dir, 'sublink'));
    assert.equal(stat('sublink', false)[1].type, FILETYPE.SYMBOLIC_LINK);
    assert.equal(stat('sublink', true)[1].type, FILETYPE.DIRECTORY);
    assert.equal(stat('sublink/', false)[1].type, FILETYPE.DIRECTORY, 'a trailing slash follows');
    assert.deepEqual(stat('file.txt')[1].size, 8n);
    assert.equal(stat('file.txt/')[0], ERRNO.NOTDIR);
    assert.equal(stat('nope')[0], ERRNO.NOENT);
    const p = g.put('file.txt');
    const t = 1_600_000_000_000_000_001n;
    assert.equal(g.call('path_filestat_set_times', ROOT, 0, p.ptr, p.len, 0n, t, 4), 0);
    assert.equal(stat('file.txt')[1].mtim, t);
    // Setting a symlink's own times does not touch its target.
    const before = lstatSync(join(dir, 'sub'), { bigint: true }).mtimeNs;
    const pl = g.put('sublink');
    assert.equal(g.call('path_filestat_set_times', ROOT, 0, pl.ptr, pl.len, 0n, t, 4), 0);
    assert.equal(stat('sublink', false)[1].mtim, t);
    assert.equal(lstatSync(join(dir, 'sub'), { bigint: true }).mtimeNs, before);
    assert.equal(g.call('path_filestat_set_times', ROOT, 0, p.ptr, p.len, 0n, t, 4 | 8), ERRNO.INVAL);
  });
});

describe('path_rename', () => {
  it('renames files and directories with POSIX semantics', () => {
    assert.equal(twoPaths('path_rename', 'file.txt', 'renamed.txt'), 0);
    assert.equal(readFileSync(join(dir, 'renamed.txt'), 'utf8'), 'content\n');
    assert.equal(twoPaths('path_rename', 'file.txt', 'x'), ERRNO.NOENT);
    mkdirSync(join(dir, 'empty'));
    assert.equal(twoPaths('path_rename', 'renamed.txt', 'empty'), ERRNO.ISDIR);
    assert.equal(twoPaths('path_rename', 'empty', 'sub'), ERRNO.NOTEMPTY);
    assert.equal(twoPaths('path_rename', 'empty', 'renamed.txt'), ERRNO.NOTDIR);
    assert.equal(twoPaths('path_rename', 'sub/', 'moved/'), 0);
    assert.ok(statSync(join(dir, 'moved')).isDirectory());
    assert.equal(twoPaths('path_rename', 'renamed.txt/', 'r2'), ERRNO.NOTDIR);
    assert.equal(twoPaths('path_rename', 'moved', 'moved/inside'), ERRNO.INVAL);
  });
});

describe('links', () => {
  it('hard-links files, not directories', () => {
    assert.equal(link('file.txt', 'hard.txt'), 0);
    assert.equal(statSync(join(dir, 'file.txt')).nlink, 2);
    assert.equal(link('file.txt', 'hard.txt'), ERRNO.EXIST);
    assert.equal(link('sub', 'subhard'), ERRNO.PERM);
    assert.equal(link('file.txt', 'newname/'), ERRNO.NOENT);
    symlinkSync('dangling-target', join(dir, 'dangling'));
    assert.equal(link('dangling', 'hard-dangling'), 0, 'links the symlink itself');
    assert.ok(lstatSync(join(dir, 'hard-dangling')).isSymbolicLink());
    assert.equal(link('dangling', 'x', 1), ERRNO.NOENT, 'following a dangling link finds nothing');
  });

  it('creates and reads symlinks, truncating readlink to the buffer', () => {
    assert.equal(symlink('file.txt', 'sym'), 0);
    assert.equal(readlinkSync(join(dir, 'sym')), 'file.txt');
    assert.deepEqual(readlink('sym', 64), [0, 'file.txt']);
    assert.deepEqual(readlink('sym', 4), [0, 'file']);
    assert.equal(readlink('file.txt', 64)[0], ERRNO.INVAL);
    assert.equal(symlink('file.txt', 'sym'), ERRNO.EXIST);
    assert.equal(symlink('x', 'sub/'), ERRNO.EXIST);
    assert.equal(symlink('x', 'file.txt/'), ERRNO.NOTDIR);
    assert.equal(symlink('x', 'newlink/'), ERRNO.NOENT);
    assert.equal(symlink('', 'empty'), ERRNO.NOENT);
    assert.equal(symlink('../inner.txt', 'sub/up'), 0, 'relative targets that stay inside are fine');
    assert.equal(symlink('../../x', 'sub/out'), ERRNO.PERM);
    assert.equal(symlink('/etc/passwd', 'abs'), ERRNO.PERM);
    assert.ok(g.violations.some((v) => v.detail.includes('/etc/passwd')));
  });
});
