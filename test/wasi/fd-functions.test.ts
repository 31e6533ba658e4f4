/**
 * Conformance of the descriptor functions (fd_*): data transfer, offsets, rights, stat, readdir.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FDFLAGS, FILETYPE, OFLAGS, RIGHTS, WHENCE } from '../../src/wasi/constants.ts';
import { ERRNO } from '../../src/wasi/errno.ts';
import { RawGuest } from './raw-guest.ts';

let dir: string;
let g: RawGuest;
const ROOT = 3;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wasi-fd-'));
  writeFileSync(join(dir, 'hello.txt'), 'hello world\n');
  mkdirSync(join(dir, 'sub'));
  g = new RawGuest({ capabilities: { filesystem: [{ hostPath: dir, guestPath: '/work', mode: 'read-write' }] } });
});

afterEach(() => {
  g.host.close();
  rmSync(dir, { recursive: true, force: true });
});

function seek(fd: number, offset: bigint, whence: number): [number, bigint] {
  const out = g.alloc(8);
  const e = g.call('fd_seek', fd, offset, whence, out);
  return [e, g.u64(out)];
}

function tell(fd: number): [number, bigint] {
  const out = g.alloc(8);
  const e = g.call('fd_tell', fd, out);
  return [e, g.u64(out)];
}

describe('read, write, seek, tell', () => {
  it('moves the offset with reads and writes and honours every whence', () => {
    const [e, fd] = g.open(ROOT, 'hello.txt');
    assert.equal(e, ERRNO.SUCCESS);
    assert.deepEqual(g.read(fd, 5), [0, 'hello']);
    assert.deepEqual(tell(fd), [0, 5n]);
    assert.deepEqual(seek(fd, 1n, WHENCE.CUR), [0, 6n]);
    assert.deepEqual(g.read(fd, 100), [0, 'world\n']);
    assert.deepEqual(g.read(fd, 100), [0, '']);
    assert.deepEqual(seek(fd, -6n, WHENCE.END), [0, 6n]);
    assert.deepEqual(g.write(fd, 'WORLD'), [0, 5]);
    assert.deepEqual(tell(fd), [0, 11n]);
    assert.deepEqual(seek(fd, 0n, WHENCE.SET), [0, 0n]);
    assert.deepEqual(g.read(fd, 100), [0, 'hello WORLD\n']);
    assert.equal(seek(fd, -100n, WHENCE.CUR)[0], ERRNO.INVAL);
    assert.equal(seek(fd, 0n, 7)[0], ERRNO.INVAL);
    assert.deepEqual(seek(fd, 1000n, WHENCE.SET), [0, 1000n], 'seeking past the end is allowed');
    assert.equal(readFileSync(join(dir, 'hello.txt'), 'utf8'), 'hello WORLD\n');
  });

  it('reads and writes scattered iovecs in order', () => {
    const [, fd] = g.open(ROOT, 'hello.txt');
    const { iovs, bufs } = g.iovecs([3, 0, 4, 100]);
    const n = g.alloc(4);
    assert.equal(g.call('fd_read', fd, iovs, 4, n), 0);
    assert.equal(g.u32(n), 12);
    assert.equal(g.text(bufs[0], 3), 'hel');
    assert.equal(g.text(bufs[2], 4), 'lo w');
    assert.equal(g.text(bufs[3], 5), 'orld\n');
  });

  it('pread and pwrite leave the offset alone', () => {
    const [, fd] = g.open(ROOT, 'hello.txt');
    const { iovs, bufs } = g.iovecs([5]);
    const n = g.alloc(4);
    assert.equal(g.call('fd_pread', fd, iovs, 1, 6n, n), 0);
    assert.equal(g.text(bufs[0], g.u32(n)), 'world');
    const data = g.put('J');
    const ciov = g.alloc(8);
    new DataView(g.memory.buffer).setUint32(ciov, data.ptr, true);
    new DataView(g.memory.buffer).setUint32(ciov + 4, 1, true);
    assert.equal(g.call('fd_pwrite', fd, ciov, 1, 0n, n), 0);
    assert.deepEqual(tell(fd), [0, 0n]);
    assert.equal(readFileSync(join(dir, 'hello.txt'), 'utf8'), 'Jello world\n');
    assert.equal(g.call('fd_pread', fd, iovs, 1, 1000n, n), 0);
    assert.equal(g.u32(n), 0, 'pread past EOF reads nothing');
  });

  it('appends in append mode, while pwrite stays positional', () => {
    const [e, fd] = g.open(ROOT, 'log.txt', { oflags: OFLAGS.CREAT, fdflags: FDFLAGS.APPEND });
    assert.equal(e, 0);
    g.write(fd, 'one\n');
    seek(fd, 0n, WHENCE.SET);
    g.write(fd, 'two\n');
    assert.deepEqual(tell(fd), [0, 8n]);
    assert.equal(readFileSync(join(dir, 'log.txt'), 'utf8'), 'one\ntwo\n');
    assert.equal(g.call('fd_fdstat_set_flags', fd, 0), 0);
    seek(fd, 0n, WHENCE.SET);
    g.write(fd, 'ONE\n');
    assert.equal(readFileSync(join(dir, 'log.txt'), 'utf8'), 'ONE\ntwo\n');
    assert.equal(g.call('fd_fdstat_set_flags', fd, 0x100), ERRNO.INVAL);
  });

  it('refuses byte-stream operations on directories and stdio with POSIX errnos', () => {
    const { iovs } = g.iovecs([4]);
    const n = g.alloc(8);
    assert.equal(g.call('fd_read', ROOT, iovs, 1, n), ERRNO.ISDIR);
    assert.equal(g.call('fd_write', ROOT, iovs, 1, n), ERRNO.ISDIR);
    assert.equal(g.call('fd_seek', ROOT, 0n, 0, n), ERRNO.ISDIR);
    assert.equal(g.call('fd_tell', ROOT, n), ERRNO.ISDIR);
    assert.equal(g.call('fd_pread', ROOT, iovs, 1, 0n, n), ERRNO.ISDIR);
    assert.equal(g.call('fd_allocate', ROOT, 0n, 1n), ERRNO.ISDIR);
    assert.equal(g.call('fd_filestat_set_size', ROOT, 0n), ERRNO.ISDIR);
    assert.equal(g.call('fd_seek', 1, 0n, 0, n), ERRNO.SPIPE);
    assert.equal(g.call('fd_pread', 0, iovs, 1, 0n, n), ERRNO.SPIPE);
    assert.equal(g.call('fd_read', 1, iovs, 1, n), ERRNO.NOTCAPABLE);
    assert.equal(g.call('fd_write', 0, iovs, 1, n), ERRNO.NOTCAPABLE);
    assert.equal(g.call('fd_read', 99, iovs, 1, n), ERRNO.BADF);
  });
});

describe('rights', () => {
  it('gives an opened file only the rights requested, inherited and applicable', () => {
    const [, fd] = g.open(ROOT, 'hello.txt', { base: BigInt(RIGHTS.FD_READ | RIGHTS.PATH_OPEN | RIGHTS.FD_SEEK), inheriting: 0n });
    const st = g.alloc(24);
    assert.equal(g.call('fd_fdstat_get', fd, st), 0);
    assert.equal(g.u8(st), FILETYPE.REGULAR_FILE);
    assert.equal(g.u64(st + 8), BigInt(RIGHTS.FD_READ | RIGHTS.FD_SEEK), 'path rights do not apply to a file');
    assert.deepEqual(g.write(fd, 'x'), [ERRNO.NOTCAPABLE, -1]);
  });

  it('only ever drops rights', () => {
    const [, fd] = g.open(ROOT, 'hello.txt');
    const st = g.alloc(24);
    g.call('fd_fdstat_get', fd, st);
    const base = g.u64(st + 8);
    const noRead = base & ~BigInt(RIGHTS.FD_READ);
    assert.equal(g.call('fd_fdstat_set_rights', fd, noRead, 0n), 0);
    assert.equal(g.read(fd, 4)[0], ERRNO.NOTCAPABLE);
    assert.equal(g.call('fd_fdstat_set_rights', fd, base, 0n), ERRNO.NOTCAPABLE);
    assert.equal(g.call('fd_fdstat_set_rights', fd, noRead | (1n << 40n), 0n), ERRNO.NOTCAPABLE);
  });

  it('a directory whose inheriting rights were dropped hands out fewer rights', () => {
    const st = g.alloc(24);
    g.call('fd_fdstat_get', ROOT, st);
    assert.equal(g.call('fd_fdstat_set_rights', ROOT, g.u64(st + 8), g.u64(st + 16) & ~BigInt(RIGHTS.FD_WRITE)), 0);
    const [, fd] = g.open(ROOT, 'hello.txt', { base: BigInt(RIGHTS.FD_READ | RIGHTS.FD_WRITE) });
    g.call('fd_fdstat_get', fd, st);
    assert.equal(g.u64(st + 8), BigInt(RIGHTS.FD_READ));
  });

  it('reports directory rights without file-only rights, and stdio as character devices', () => {
    const st = g.alloc(24);
    g.call('fd_fdstat_get', ROOT, st);
    assert.equal(g.u8(st), FILETYPE.DIRECTORY);
    const base = g.u64(st + 8);
    assert.equal(base & BigInt(RIGHTS.FD_FILESTAT_SET_SIZE | RIGHTS.FD_READ | RIGHTS.FD_SEEK), 0n);
    assert.equal(base & BigInt(RIGHTS.PATH_OPEN | RIGHTS.PATH_CREATE_FILE | RIGHTS.FD_READDIR), BigInt(RIGHTS.PATH_OPEN | RIGHTS.PATH_CREATE_FILE | RIGHTS.FD_READDIR));
    g.call('fd_fdstat_get', 1, st);
    assert.equal(g.u8(st), FILETYPE.CHARACTER_DEVICE);
    assert.equal(g.u64(st + 8) & BigInt(RIGHTS.FD_WRITE), BigInt(RIGHTS.FD_WRITE));
  });
});

describe('filestat', () => {
  it('reports size, type and link count, for fds and paths', () => {
    const [, fd] = g.open(ROOT, 'hello.txt');
    const fs = g.alloc(64);
    assert.equal(g.call('fd_filestat_get', fd, fs), 0);
    const host = statSync(join(dir, 'hello.txt'), { bigint: true });
    assert.equal(g.u64(fs), host.dev);
    assert.equal(g.u64(fs + 8), host.ino);
    assert.equal(g.u8(fs + 16), FILETYPE.REGULAR_FILE);
    assert.equal(g.u64(fs + 24), 1n);
    assert.equal(g.u64(fs + 32), 12n);
    assert.equal(g.u64(fs + 48), host.mtimeNs);
  });

  it('round-trips nanosecond times exactly and validates fst_flags', () => {
    const [, fd] = g.open(ROOT, 'hello.txt');
    const fs = g.alloc(64);
    g.call('fd_filestat_get', fd, fs);
    const atim = g.u64(fs + 40);
    const mtim = 1_700_000_000_123_456_789n;
    assert.equal(g.call('fd_filestat_set_times', fd, 0n, mtim, 4 /* MTIM */), 0);
    g.call('fd_filestat_get', fd, fs);
    assert.equal(g.u64(fs + 48), mtim);
    assert.equal(g.u64(fs + 40), atim, 'atime untouched');
    assert.equal(g.call('fd_filestat_set_times', fd, 0n, 0n, 4 | 8), ERRNO.INVAL);
    assert.equal(g.call('fd_filestat_set_times', fd, 0n, 0n, 1 | 2), ERRNO.INVAL);
    assert.equal(g.call('fd_filestat_set_times', fd, 0n, 0n, 16), ERRNO.INVAL);
    // The host sees the time too (to the precision Node can set).
    const host = statSync(join(dir, 'hello.txt'), { bigint: true });
    assert.ok(host.mtimeNs - mtim < 1000n && mtim - host.mtimeNs < 1000n);
  });

  it('sets size and allocates', () => {
    const [, fd] = g.open(ROOT, 'hello.txt');
    assert.equal(g.call('fd_filestat_set_size', fd, 5n), 0);
    assert.equal(readFileSync(join(dir, 'hello.txt'), 'utf8'), 'hello');
    assert.equal(g.call('fd_allocate', fd, 0n, 100n), 0);
    assert.equal(statSync(join(dir, 'hello.txt')).size, 100);
    assert.equal(g.call('fd_allocate', fd, 0n, 10n), 0);
    assert.equal(statSync(join(dir, 'hello.txt')).size, 100, 'allocate never shrinks');
    assert.equal(g.call('fd_advise', fd, 0n, 10n, 3), 0);
    assert.equal(g.call('fd_advise', fd, 0n, 10n, 9), ERRNO.INVAL);
    assert.equal(g.call('fd_sync', fd), 0);
    assert.equal(g.call('fd_datasync', fd), 0);
  });
});

describe('fd_readdir', () => {
  function readdir(fd: number, cookie: bigint, size: number): Array<{ next: bigint; ino: bigint; type: number; name: string }> & { used: number } {
    const buf = g.alloc(size);
    const used = g.alloc(4);
    assert.equal(g.call('fd_readdir', fd, buf, size, cookie, used), 0);
    const n = g.u32(used);
    const out = [] as unknown as Array<{ next: bigint; ino: bigint; type: number; name: string }> & { used: number };
    out.used = n;
    let off = 0;
    while (off + 24 <= n) {
      const namlen = g.u32(buf + off + 16);
      if (off + 24 + namlen > n) break;
      out.push({ next: g.u64(buf + off), ino: g.u64(buf + off + 8), type: g.u8(buf + off + 20), name: g.text(buf + off + 24, namlen) });
      off += 24 + namlen;
    }
    return out;
  }

  it('lists . and .. and every entry with inode and type', () => {
    const [, d] = g.open(ROOT, '.', { oflags: OFLAGS.DIRECTORY });
    const all = readdir(d, 0n, 4096);
    const names = all.map((e) => e.name).sort();
    assert.deepEqual(names, ['.', '..', 'hello.txt', 'sub']);
    const file = all.find((e) => e.name === 'hello.txt')!;
    assert.equal(file.type, FILETYPE.REGULAR_FILE);
    assert.equal(file.ino, statSync(join(dir, 'hello.txt'), { bigint: true }).ino);
    assert.equal(all.find((e) => e.name === 'sub')!.type, FILETYPE.DIRECTORY);
    assert.equal(all.find((e) => e.name === '.')!.ino, statSync(dir, { bigint: true }).ino);
    assert.equal(all.find((e) => e.name === '..')!.ino, statSync(dir, { bigint: true }).ino, "the preopen root's '..' discloses nothing above it");
  });

  it('resumes from cookies with a small buffer and fills it when entries are cut', () => {
    for (let i = 0; i < 50; i++) writeFileSync(join(dir, `file-${String(i).padStart(2, '0')}`), '');
    const seen: string[] = [];
    let cookie = 0n;
    let calls = 0;
    for (;;) {
      const batch = readdir(ROOT, cookie, 100);
      calls++;
      for (const e of batch) seen.push(e.name);
      if (batch.used < 100) break;
      assert.ok(batch.length > 0);
      cookie = batch[batch.length - 1].next;
    }
    assert.ok(calls > 10);
    assert.equal(seen.length, 54);
    assert.equal(new Set(seen).size, 54);
    const rest = readdir(ROOT, 1000n, 100);
    assert.equal(rest.used, 0, 'a cookie past the end reads nothing');
  });

  it('refuses files and requires the readdir right', () => {
    const [, fd] = g.open(ROOT, 'hello.txt');
    const buf = g.alloc(64);
    assert.equal(g.call('fd_readdir', fd, buf, 64, 0n, buf), ERRNO.NOTDIR);
    const [, d] = g.open(ROOT, 'sub', { oflags: OFLAGS.DIRECTORY, base: BigInt(RIGHTS.PATH_OPEN) });
    assert.equal(g.call('fd_readdir', d, buf, 64, 0n, buf), ERRNO.NOTCAPABLE);
  });
});

describe('close, renumber, prestat', () => {
  it('closes and renumbers like the spec says', () => {
    const [, a] = g.open(ROOT, 'hello.txt');
    const [, b] = g.open(ROOT, 'sub', { oflags: OFLAGS.DIRECTORY });
    assert.equal(g.call('fd_renumber', a, b), 0);
    assert.equal(g.call('fd_close', a), ERRNO.BADF);
    assert.deepEqual(g.read(b, 5), [0, 'hello']);
    assert.equal(g.call('fd_renumber', b, 77), ERRNO.BADF, 'the target must be open');
    assert.equal(g.call('fd_close', b), 0);
    assert.equal(g.call('fd_close', b), ERRNO.BADF);
  });

  it('describes preopens and only preopens', () => {
    const ps = g.alloc(8);
    assert.equal(g.call('fd_prestat_get', ROOT, ps), 0);
    assert.equal(g.u8(ps), 0);
    assert.equal(g.u32(ps + 4), 5);
    const name = g.alloc(5);
    assert.equal(g.call('fd_prestat_dir_name', ROOT, name, 5), 0);
    assert.equal(g.text(name, 5), '/work');
    assert.equal(g.call('fd_prestat_dir_name', ROOT, name, 4), ERRNO.NAMETOOLONG);
    assert.equal(g.call('fd_prestat_get', 1, ps), ERRNO.BADF);
    assert.equal(g.call('fd_prestat_get', 4, ps), ERRNO.BADF);
    const [, fd] = g.open(ROOT, '.', { oflags: OFLAGS.DIRECTORY });
    assert.equal(g.call('fd_prestat_get', fd, ps), ERRNO.BADF, 'a reopened directory is not a preopen');
    assert.equal(g.call('fd_close', ROOT), 0, 'a preopen can be closed');
    assert.equal(g.call('fd_prestat_get', ROOT, ps), ERRNO.BADF);
  });
});
