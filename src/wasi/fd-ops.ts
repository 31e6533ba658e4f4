import {
  fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, futimesSync, lstatSync, readdirSync, readSync, writeSync,
  type BigIntStats,
} from 'node:fs';
import { ADVICE_MAX, FDFLAGS, FDFLAGS_ALL, FILETYPE, FSTFLAGS, PREOPENTYPE_DIR, RIGHTS, WHENCE, hasUnknownRights, rightsFromBig } from './constants.ts';
import type { WasiContext } from './context.ts';
import { ERRNO, fail } from './errno.ts';
import { releaseEntry, type DirSnapshot, type FdEntry } from './fd-table.ts';
import { filetypeOf, nsToSeconds, writeFilestat, writeFilestatUnstable, writeSyntheticFilestat, type TimestampOverrides } from './filestat.ts';
import { needRights, requireChange } from './fs-access.ts';
import { childPathBuffer, selfPath } from '../host/path-resolver.ts';

const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);
const DIRENT_HEADER = 24;

/** Offsets and sizes are u64 in the ABI; Node takes safe integers. Larger values cannot name a real position. */
function offsetOf(v: bigint, errno: number = ERRNO.INVAL): number {
  const u = BigInt.asUintN(64, v);
  if (u > MAX_OFFSET) fail(errno);
  return Number(u);
}

/** Rejects descriptor kinds a byte-stream file operation cannot apply to, with the POSIX errno. */
function fileOnly(e: FdEntry): void {
  if (e.kind === 'directory') fail(ERRNO.ISDIR);
  if (e.kind !== 'file') fail(ERRNO.SPIPE);
}

/** Validates fst_flags and computes the new times; `current` supplies the guest-visible values to keep. */
export function applyTimes(
  times: TimestampOverrides,
  stat: () => BigIntStats,
  set: (atimeSec: number, mtimeSec: number) => void,
  atim: bigint,
  mtim: bigint,
  fst: number,
): void {
  const current = stat();
  let a = times.atim(current);
  let m = times.mtim(current);
  const now = BigInt(Date.now()) * 1_000_000n;
  if (fst & FSTFLAGS.ATIM_NOW) a = now;
  else if (fst & FSTFLAGS.ATIM) a = BigInt.asUintN(64, atim);
  if (fst & FSTFLAGS.MTIM_NOW) m = now;
  else if (fst & FSTFLAGS.MTIM) m = BigInt.asUintN(64, mtim);
  set(nsToSeconds(a), nsToSeconds(m));
  const after = stat();
  times.record(after.dev, after.ino, { hostAtim: after.atimeNs, guestAtim: a, hostMtim: after.mtimeNs, guestMtim: m });
}

export function validateFstflags(fst: number): void {
  if ((fst & ~15) !== 0) fail(ERRNO.INVAL);
  if ((fst & FSTFLAGS.ATIM) && (fst & FSTFLAGS.ATIM_NOW)) fail(ERRNO.INVAL);
  if ((fst & FSTFLAGS.MTIM) && (fst & FSTFLAGS.MTIM_NOW)) fail(ERRNO.INVAL);
}

/** Output gathered into one chunk per fd_write at most; larger writes go buffer by buffer. */
const JOIN_MAX = 1 << 20;

/** Descriptor-based functions: fd_*. */
export function createFdFunctions(ctx: WasiContext) {
  const { mem, fds, counters } = ctx;
  const { work } = ctx;

  /** Reads a file into guest iovecs at `position`, honouring io.maxReadBytes; returns bytes read. */
  function readFile(e: FdEntry, iovs: Array<{ ptr: number; len: number }>, position: number): number {
    let total = 0;
    for (const v of iovs) {
      if (v.len === 0) continue;
      const want = counters.readAllowance(v.len);
      if (want === 0) {
        // Only stop the guest if there really is more to read; reading to EOF exactly at the limit is fine.
        const probe = readSync(e.hostFd, new Uint8Array(1), 0, 1, position + total);
        if (probe === 0) break;
        counters.overRead(v.len);
      }
      work.add(want);
      const n = readSync(e.hostFd, mem.u8(), v.ptr, want, position + total);
      total += n;
      counters.countRead(n);
      if (n < v.len) break;
    }
    return total;
  }

  function writeFile(e: FdEntry, iovs: Array<{ ptr: number; len: number }>, position: number): number {
    let total = 0;
    for (const v of iovs) {
      if (v.len === 0) continue;
      counters.checkWrite(v.len);
      work.add(v.len);
      const n = writeSync(e.hostFd, mem.u8(), v.ptr, v.len, position + total);
      total += n;
      counters.countWrite(n);
      if (n < v.len) break;
    }
    if (e.fdflags & (FDFLAGS.SYNC | FDFLAGS.RSYNC)) fsyncSync(e.hostFd);
    else if (e.fdflags & FDFLAGS.DSYNC) fdatasyncSync(e.hostFd);
    return total;
  }

  function readStdin(e: FdEntry, iovs: Array<{ ptr: number; len: number }>): number {
    let total = 0;
    const first = (e.fdflags & FDFLAGS.NONBLOCK) !== 0 ? 'nonblock' : 'block';
    for (const v of iovs) {
      if (v.len === 0) continue;
      // Like readv: once some data has arrived, later buffers only take what is already there.
      const n = ctx.stdio.stdin.read(mem.u8(), v.ptr, v.len, total === 0 ? first : 'try', ctx.checkInterrupt, ctx.remainingMs);
      total += n;
      if (n < v.len) break;
    }
    return total;
  }

  function writeOutput(e: FdEntry, iovs: Array<{ ptr: number; len: number }>): number {
    const sink = e.kind === 'stdout' ? ctx.stdio.stdout : ctx.stdio.stderr;
    const u8 = mem.u8();
    let total = 0;
    for (const v of iovs) total += v.len;
    // One chunk per call keeps captured output and taps aligned with the guest's writes. Buffers may
    // all point at the same region, so the total is not bounded by guest memory: past a few chunks
    // they go one by one, each charged before it is copied.
    if (iovs.length === 1 || total > JOIN_MAX) {
      for (const v of iovs) {
        work.add(v.len);
        sink.write(u8.subarray(v.ptr, v.ptr + v.len));
      }
      return total;
    }
    const joined = new Uint8Array(total);
    let off = 0;
    for (const v of iovs) {
      joined.set(u8.subarray(v.ptr, v.ptr + v.len), off);
      off += v.len;
    }
    sink.write(joined);
    return total;
  }

  function fileSize(e: FdEntry): number {
    return fstatSync(e.hostFd).size;
  }

  function snapshot(e: FdEntry): DirSnapshot {
    const names = readdirSync(selfPath(e), { encoding: 'buffer' });
    return { names, inos: new Array(names.length), types: new Array(names.length) };
  }

  function filestatOf(e: FdEntry, ptr: number, unstable: boolean): void {
    if (e.kind === 'listener' || e.kind === 'socket') {
      writeSyntheticFilestat(mem, ptr, FILETYPE.SOCKET_STREAM, unstable);
      return;
    }
    if (e.kind === 'file' || e.kind === 'directory') {
      const st = fstatSync(e.hostFd, { bigint: true });
      if (unstable) writeFilestatUnstable(mem, ptr, st, ctx.times);
      else writeFilestat(mem, ptr, st, ctx.times);
      return;
    }
    // Stdio is described, not stat'ed: the host's terminal or pipe identity is none of the guest's business.
    const stream = e.kind === 'stdin' ? ctx.stdio.stdin : e.kind === 'stdout' ? ctx.stdio.stdout : ctx.stdio.stderr;
    writeSyntheticFilestat(mem, ptr, stream.filetype, unstable);
  }

  function seek(fd: number, offset: bigint, whence: number, newOffsetPtr: number): number {
    const e = fds.get(fd);
    fileOnly(e);
    needRights(e, whence === WHENCE.CUR && offset === 0n ? (e.rightsBase & RIGHTS.FD_SEEK ? RIGHTS.FD_SEEK : RIGHTS.FD_TELL) : RIGHTS.FD_SEEK);
    mem.check(newOffsetPtr, 8);
    const delta = BigInt.asIntN(64, offset);
    let base: bigint;
    if (whence === WHENCE.SET) base = 0n;
    else if (whence === WHENCE.CUR) base = BigInt(e.position);
    else if (whence === WHENCE.END) base = BigInt(fileSize(e));
    else return fail(ERRNO.INVAL);
    const next = base + delta;
    if (next < 0n || next > MAX_OFFSET) fail(ERRNO.INVAL);
    e.position = Number(next);
    mem.setU64(newOffsetPtr, next);
    return ERRNO.SUCCESS;
  }

  return {
    fd_advise(fd: number, offset: bigint, len: bigint, advice: number): number {
      const e = fds.get(fd);
      fileOnly(e);
      needRights(e, RIGHTS.FD_ADVISE);
      if ((advice >>> 0) > ADVICE_MAX) fail(ERRNO.INVAL);
      offsetOf(offset);
      offsetOf(len);
      // Node exposes no posix_fadvise; advice is only a hint, so accepting it is correct.
      return ERRNO.SUCCESS;
    },

    fd_allocate(fd: number, offset: bigint, len: bigint): number {
      const e = fds.get(fd);
      fileOnly(e);
      requireChange(ctx, e, 'allocate');
      needRights(e, RIGHTS.FD_ALLOCATE);
      const end = BigInt.asUintN(64, offset) + BigInt.asUintN(64, len);
      if (end > MAX_OFFSET) fail(ERRNO.FBIG);
      // Node has no fallocate: extending the size gives the same visible result (blocks stay sparse).
      if (Number(end) > fileSize(e)) ftruncateSync(e.hostFd, Number(end));
      return ERRNO.SUCCESS;
    },

    fd_close(fd: number): number {
      releaseEntry(fds.remove(fd));
      return ERRNO.SUCCESS;
    },

    fd_datasync(fd: number): number {
      const e = fds.get(fd);
      needRights(e, RIGHTS.FD_DATASYNC);
      if (e.hostFd < 0) fail(ERRNO.INVAL);
      fdatasyncSync(e.hostFd);
      return ERRNO.SUCCESS;
    },

    fd_sync(fd: number): number {
      const e = fds.get(fd);
      needRights(e, RIGHTS.FD_SYNC);
      if (e.hostFd < 0) fail(ERRNO.INVAL);
      fsyncSync(e.hostFd);
      return ERRNO.SUCCESS;
    },

    fd_fdstat_get(fd: number, ptr: number): number {
      const e = fds.get(fd);
      const bytes = mem.bytes(ptr, 24);
      let filetype = e.filetype;
      if (e.kind === 'stdin') filetype = ctx.stdio.stdin.filetype;
      else if (e.kind === 'stdout') filetype = ctx.stdio.stdout.filetype;
      else if (e.kind === 'stderr') filetype = ctx.stdio.stderr.filetype;
      bytes.fill(0);
      mem.setU8(ptr, filetype);
      mem.setU16(ptr + 2, e.fdflags);
      mem.setU64(ptr + 8, e.rightsBase);
      mem.setU64(ptr + 16, e.rightsInheriting);
      return ERRNO.SUCCESS;
    },

    fd_fdstat_set_flags(fd: number, flags: number): number {
      const e = fds.get(fd);
      needRights(e, RIGHTS.FD_FDSTAT_SET_FLAGS);
      const f = flags & 0xffff;
      if ((f & ~FDFLAGS_ALL) !== 0) fail(ERRNO.INVAL);
      // Append is emulated (see fd_write), sync flags are honoured by syncing after each write.
      if ((f & FDFLAGS.APPEND) && e.kind === 'file') requireChange(ctx, e, 'write');
      e.fdflags = f;
      return ERRNO.SUCCESS;
    },

    fd_fdstat_set_rights(fd: number, base: bigint, inheriting: bigint): number {
      const e = fds.get(fd);
      if (hasUnknownRights(base) || hasUnknownRights(inheriting)) fail(ERRNO.NOTCAPABLE);
      const b = rightsFromBig(base);
      const i = rightsFromBig(inheriting);
      // Rights can only ever be dropped.
      if ((b & ~e.rightsBase) !== 0 || (i & ~e.rightsInheriting) !== 0) fail(ERRNO.NOTCAPABLE);
      e.rightsBase = b;
      e.rightsInheriting = i;
      return ERRNO.SUCCESS;
    },

    fd_filestat_get(fd: number, ptr: number): number {
      const e = fds.get(fd);
      needRights(e, RIGHTS.FD_FILESTAT_GET);
      mem.check(ptr, 64);
      filestatOf(e, ptr, false);
      return ERRNO.SUCCESS;
    },

    fd_filestat_get_unstable(fd: number, ptr: number): number {
      const e = fds.get(fd);
      needRights(e, RIGHTS.FD_FILESTAT_GET);
      mem.check(ptr, 56);
      filestatOf(e, ptr, true);
      return ERRNO.SUCCESS;
    },

    fd_filestat_set_size(fd: number, size: bigint): number {
      const e = fds.get(fd);
      fileOnly(e);
      requireChange(ctx, e, 'set-size');
      needRights(e, RIGHTS.FD_FILESTAT_SET_SIZE);
      ftruncateSync(e.hostFd, offsetOf(size, ERRNO.FBIG));
      return ERRNO.SUCCESS;
    },

    fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, fst: number): number {
      const e = fds.get(fd);
      validateFstflags(fst);
      if (e.kind !== 'file' && e.kind !== 'directory') fail(ERRNO.NOTCAPABLE);
      requireChange(ctx, e, 'set-times');
      needRights(e, RIGHTS.FD_FILESTAT_SET_TIMES);
      const hostFd = e.hostFd;
      applyTimes(ctx.times, () => fstatSync(hostFd, { bigint: true }), (a, m) => futimesSync(hostFd, a, m), atim, mtim, fst);
      return ERRNO.SUCCESS;
    },

    fd_pread(fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nreadPtr: number): number {
      const e = fds.get(fd);
      fileOnly(e);
      needRights(e, RIGHTS.FD_READ);
      const iovs = mem.iovecs(iovsPtr, iovsLen);
      mem.check(nreadPtr, 4);
      const n = readFile(e, iovs, offsetOf(offset));
      mem.setU32(nreadPtr, n);
      return ERRNO.SUCCESS;
    },

    fd_pwrite(fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nwrittenPtr: number): number {
      const e = fds.get(fd);
      fileOnly(e);
      requireChange(ctx, e, 'write');
      needRights(e, RIGHTS.FD_WRITE);
      const iovs = mem.iovecs(iovsPtr, iovsLen);
      mem.check(nwrittenPtr, 4);
      // Positional even in append mode: the guest asked for this offset (unlike Linux pwrite on O_APPEND).
      const n = writeFile(e, iovs, offsetOf(offset, ERRNO.FBIG));
      mem.setU32(nwrittenPtr, n);
      return ERRNO.SUCCESS;
    },

    fd_read(fd: number, iovsPtr: number, iovsLen: number, nreadPtr: number): number {
      const e = fds.get(fd);
      if (e.kind === 'directory') fail(ERRNO.ISDIR);
      needRights(e, RIGHTS.FD_READ);
      const iovs = mem.iovecs(iovsPtr, iovsLen);
      mem.check(nreadPtr, 4);
      let n: number;
      if (e.kind === 'file') {
        n = readFile(e, iovs, e.position);
        e.position += n;
      } else if (e.kind === 'stdin') {
        n = readStdin(e, iovs);
      } else if (e.kind === 'socket') {
        n = ctx.sockets!.recv(e, iovs, 0);
      } else {
        return fail(ERRNO.BADF);
      }
      mem.setU32(nreadPtr, n);
      return ERRNO.SUCCESS;
    },

    fd_write(fd: number, iovsPtr: number, iovsLen: number, nwrittenPtr: number): number {
      const e = fds.get(fd);
      if (e.kind === 'directory') fail(ERRNO.ISDIR);
      if (e.kind === 'file') requireChange(ctx, e, 'write');
      needRights(e, RIGHTS.FD_WRITE);
      const iovs = mem.iovecs(iovsPtr, iovsLen);
      mem.check(nwrittenPtr, 4);
      let n: number;
      if (e.kind === 'stdout' || e.kind === 'stderr') {
        n = writeOutput(e, iovs);
      } else if (e.kind === 'file') {
        // Append is emulated so fd_pwrite can stay positional; it is not atomic against other host writers.
        const start = e.fdflags & FDFLAGS.APPEND ? fileSize(e) : e.position;
        n = writeFile(e, iovs, start);
        e.position = start + n;
      } else if (e.kind === 'socket') {
        n = ctx.sockets!.send(e, iovs);
      } else {
        return fail(ERRNO.BADF);
      }
      mem.setU32(nwrittenPtr, n);
      return ERRNO.SUCCESS;
    },

    fd_prestat_get(fd: number, ptr: number): number {
      const e = fds.get(fd);
      if (e.preopenName === undefined) fail(ERRNO.BADF);
      mem.bytes(ptr, 8).fill(0);
      mem.setU8(ptr, PREOPENTYPE_DIR);
      mem.setU32(ptr + 4, e.preopenName.length);
      return ERRNO.SUCCESS;
    },

    fd_prestat_dir_name(fd: number, ptr: number, len: number): number {
      const e = fds.get(fd);
      const name = e.preopenName;
      if (name === undefined) return fail(ERRNO.BADF);
      if ((len >>> 0) < name.length) fail(ERRNO.NAMETOOLONG);
      mem.bytes(ptr, name.length).set(name);
      return ERRNO.SUCCESS;
    },

    fd_readdir(fd: number, buf: number, bufLen: number, cookie: bigint, bufusedPtr: number): number {
      const e = fds.get(fd);
      if (e.kind !== 'directory') fail(ERRNO.NOTDIR);
      needRights(e, RIGHTS.FD_READDIR);
      const out = mem.bytes(buf, bufLen);
      mem.check(bufusedPtr, 4);
      const c = BigInt.asUintN(64, cookie);
      if (c === 0n || e.dir === undefined) e.dir = snapshot(e);
      const snap = e.dir;
      const total = snap.names.length + 2;
      const header = new Uint8Array(DIRENT_HEADER);
      const hv = new DataView(header.buffer);
      let used = 0;
      for (let i = c > BigInt(total) ? total : Number(c); i < total && used < out.length; i++) {
        let name: Buffer;
        let ino: bigint;
        let type: number;
        if (i < 2) {
          name = i === 0 ? DOT : DOTDOT;
          // '..' of a preopen root must not disclose anything about the host directory above it.
          const st = i === 1 && e.depth > 0 ? lstatSync(childPathBuffer(e, DOTDOT), { bigint: true }) : fstatSync(e.hostFd, { bigint: true });
          ino = st.ino;
          type = FILETYPE.DIRECTORY;
        } else {
          const k = i - 2;
          name = snap.names[k];
          if (snap.inos[k] === undefined) {
            const st = lstatSync(childPathBuffer(e, name), { bigint: true, throwIfNoEntry: false });
            snap.inos[k] = st?.ino ?? 0n;
            snap.types[k] = st === undefined ? FILETYPE.UNKNOWN : filetypeOf(st);
          }
          ino = snap.inos[k]!;
          type = snap.types[k]!;
        }
        hv.setBigUint64(0, BigInt(i + 1), true);
        hv.setBigUint64(8, BigInt.asUintN(64, ino), true);
        hv.setUint32(16, name.length, true);
        hv.setUint32(20, type, true);
        const room = out.length - used;
        if (room < DIRENT_HEADER) {
          out.set(header.subarray(0, room), used);
          used += room;
          break;
        }
        out.set(header, used);
        used += DIRENT_HEADER;
        const n = Math.min(name.length, out.length - used);
        out.set(name.subarray(0, n), used);
        used += n;
      }
      mem.setU32(bufusedPtr, used);
      return ERRNO.SUCCESS;
    },

    fd_renumber(from: number, to: number): number {
      const old = fds.renumber(from, to);
      if (old !== undefined) releaseEntry(old);
      return ERRNO.SUCCESS;
    },

    fd_seek: seek,

    /** wasi_unstable numbers whence differently (CUR=0, END=1, SET=2). */
    fd_seek_unstable(fd: number, offset: bigint, whence: number, newOffsetPtr: number): number {
      const map = [WHENCE.CUR, WHENCE.END, WHENCE.SET];
      const w = map[whence & 0xff];
      return seek(fd, offset, w === undefined ? 255 : w, newOffsetPtr);
    },

    fd_tell(fd: number, ptr: number): number {
      const e = fds.get(fd);
      fileOnly(e);
      needRights(e, RIGHTS.FD_TELL);
      mem.setU64(ptr, e.position);
      return ERRNO.SUCCESS;
    },
  };
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

export type FdFunctions = ReturnType<typeof createFdFunctions>;
