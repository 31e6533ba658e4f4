import {
  closeSync, constants as C, fstatSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readlinkSync, renameSync,
  rmdirSync, symlinkSync, unlinkSync, utimesSync, type BigIntStats,
} from 'node:fs';
import {
  DIR_INHERITING_RO, DIR_INHERITING_RW, DIR_RIGHTS_RO, DIR_RIGHTS_RW, FDFLAGS, FDFLAGS_ALL, FILE_MUTATING_RIGHTS,
  FILE_RIGHTS_RO, FILE_RIGHTS_RW, LOOKUP_SYMLINK_FOLLOW, OFLAGS, RIGHTS, rightsFromBig,
} from './constants.ts';
import type { WasiContext } from './context.ts';
import { ERRNO, fail } from './errno.ts';
import type { FdEntry } from './fd-table.ts';
import { applyTimes, validateFstflags } from './fd-ops.ts';
import { filetypeOf, writeFilestat, writeFilestatUnstable } from './filestat.ts';
import { denyReadOnly, dirEntry, escapeHandler, needRights } from './fs-access.ts';
import {
  childPath, endsAsDirectory, release, resolvePath, selfPath, symlinkTargetStaysInside, type Resolved,
} from './path-resolver.ts';

const O_NOFOLLOW = C.O_NOFOLLOW ?? 0;
const O_DIRECTORY = C.O_DIRECTORY ?? 0;
const O_NONBLOCK = C.O_NONBLOCK ?? 0;
const READ_RIGHTS = RIGHTS.FD_READ | RIGHTS.FD_READDIR;

/**
 * Path-based functions: path_* and path_open. Every path is resolved by `resolvePath` beneath the
 * starting directory descriptor, and the host call that follows always acts on a single name inside
 * a directory the host holds, without following a final symlink.
 */
export function createPathFunctions(ctx: WasiContext) {
  const { mem, fds } = ctx;

  function resolve(e: FdEntry, path: string, follow: boolean): Resolved {
    return resolvePath(e, path, follow, escapeHandler(ctx, e));
  }

  function withPath<T>(e: FdEntry, path: string, follow: boolean, fn: (r: Resolved) => T): T {
    const r = resolve(e, path, follow);
    try {
      return fn(r);
    } finally {
      release(r);
    }
  }

  /** lstat of the final component, or undefined when it does not exist. */
  function lstatFinal(r: Resolved): BigIntStats | undefined {
    return r.name === '.' ? fstatSync(r.dir.hostFd, { bigint: true }) : lstatSync(childPath(r.dir, r.name), { bigint: true, throwIfNoEntry: false });
  }

  function statPath(fd: number, flags: number, pathPtr: number, pathLen: number, buf: number, unstable: boolean): number {
    const e = dirEntry(ctx, fd);
    needRights(e, RIGHTS.PATH_FILESTAT_GET);
    mem.check(buf, unstable ? 56 : 64);
    const path = mem.string(pathPtr, pathLen);
    const st = withPath(e, path, (flags & LOOKUP_SYMLINK_FOLLOW) !== 0 || endsAsDirectory(path), (r) => {
      const s = lstatFinal(r);
      if (s === undefined) return fail(ERRNO.NOENT);
      if (r.mustBeDir && !s.isDirectory()) fail(ERRNO.NOTDIR);
      return s;
    });
    if (unstable) writeFilestatUnstable(mem, buf, st, ctx.times);
    else writeFilestat(mem, buf, st, ctx.times);
    return ERRNO.SUCCESS;
  }

  return {
    path_create_directory(fd: number, pathPtr: number, pathLen: number): number {
      const e = dirEntry(ctx, fd);
      denyReadOnly(ctx, e, 'path_create_directory');
      needRights(e, RIGHTS.PATH_CREATE_DIRECTORY);
      const path = mem.string(pathPtr, pathLen);
      withPath(e, path, false, (r) => {
        if (r.name === '.') fail(ERRNO.EXIST);
        mkdirSync(childPath(r.dir, r.name), 0o777);
      });
      return ERRNO.SUCCESS;
    },

    path_filestat_get(fd: number, flags: number, pathPtr: number, pathLen: number, buf: number): number {
      return statPath(fd, flags, pathPtr, pathLen, buf, false);
    },

    path_filestat_get_unstable(fd: number, flags: number, pathPtr: number, pathLen: number, buf: number): number {
      return statPath(fd, flags, pathPtr, pathLen, buf, true);
    },

    path_filestat_set_times(fd: number, flags: number, pathPtr: number, pathLen: number, atim: bigint, mtim: bigint, fst: number): number {
      const e = dirEntry(ctx, fd);
      validateFstflags(fst);
      denyReadOnly(ctx, e, 'path_filestat_set_times');
      needRights(e, RIGHTS.PATH_FILESTAT_SET_TIMES);
      const path = mem.string(pathPtr, pathLen);
      withPath(e, path, (flags & LOOKUP_SYMLINK_FOLLOW) !== 0 || endsAsDirectory(path), (r) => {
        if (r.name === '.') {
          const self = selfPath(r.dir);
          const dirFd = r.dir.hostFd;
          applyTimes(ctx.times, () => fstatSync(dirFd, { bigint: true }), (a, m) => utimesSync(self, a, m), atim, mtim, fst);
          return;
        }
        const p = childPath(r.dir, r.name);
        const stat = (): BigIntStats => lstatSync(p, { bigint: true });
        if (r.mustBeDir && !stat().isDirectory()) fail(ERRNO.NOTDIR);
        // The final component is never a symlink we were asked to follow (resolution did that), so
        // lutimes acts on exactly the named entry.
        applyTimes(ctx.times, stat, (a, m) => lutimesSync(p, a, m), atim, mtim, fst);
      });
      return ERRNO.SUCCESS;
    },

    path_link(oldFd: number, oldFlags: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const eo = dirEntry(ctx, oldFd);
      const en = dirEntry(ctx, newFd);
      denyReadOnly(ctx, en, 'path_link');
      // A second name for a read-only file must never appear where it could be written through.
      denyReadOnly(ctx, eo, 'path_link (source)');
      needRights(eo, RIGHTS.PATH_LINK_SOURCE);
      needRights(en, RIGHTS.PATH_LINK_TARGET);
      const oldPath = mem.string(oldPtr, oldLen);
      const newPath = mem.string(newPtr, newLen);
      withPath(eo, oldPath, (oldFlags & LOOKUP_SYMLINK_FOLLOW) !== 0, (ro) => {
        withPath(en, newPath, false, (rn) => {
          if (ro.name === '.') fail(ERRNO.PERM);
          if (rn.name === '.') fail(ERRNO.EXIST);
          if (ro.mustBeDir) {
            const s = lstatFinal(ro);
            if (s === undefined) fail(ERRNO.NOENT);
            fail(s.isDirectory() ? ERRNO.PERM : ERRNO.NOTDIR);
          }
          if (rn.mustBeDir) fail(lstatFinal(rn) === undefined ? ERRNO.NOENT : ERRNO.EXIST);
          linkSync(childPath(ro.dir, ro.name), childPath(rn.dir, rn.name));
        });
      });
      return ERRNO.SUCCESS;
    },

    path_open(fd: number, dirflags: number, pathPtr: number, pathLen: number, oflags: number, base: bigint, inheriting: bigint, fdflags: number, fdPtr: number): number {
      const e = dirEntry(ctx, fd);
      needRights(e, RIGHTS.PATH_OPEN);
      mem.check(fdPtr, 4);
      const o = oflags & 0xffff;
      const ff = fdflags & 0xffff;
      if ((o & ~15) !== 0 || (ff & ~FDFLAGS_ALL) !== 0) fail(ERRNO.INVAL);
      const creat = (o & OFLAGS.CREAT) !== 0;
      const excl = (o & OFLAGS.EXCL) !== 0;
      const trunc = (o & OFLAGS.TRUNC) !== 0;
      const wantDir = (o & OFLAGS.DIRECTORY) !== 0;
      const reqBase = rightsFromBig(base);
      const reqInh = rightsFromBig(inheriting);
      if (creat || trunc || (reqBase & FILE_MUTATING_RIGHTS) !== 0 || (ff & FDFLAGS.APPEND) !== 0) {
        denyReadOnly(ctx, e, 'path_open for writing');
      }
      if (creat) needRights(e, RIGHTS.PATH_CREATE_FILE);
      if (trunc) needRights(e, RIGHTS.PATH_FILESTAT_SET_SIZE);
      if (wantDir && (creat || trunc)) fail(ERRNO.INVAL);
      fds.reserve();
      const path = mem.string(pathPtr, pathLen);
      // O_CREAT|O_EXCL never follows a final symlink (POSIX): an existing link makes it fail with EEXIST.
      const follow = ((dirflags & LOOKUP_SYMLINK_FOLLOW) !== 0 && !(creat && excl)) || endsAsDirectory(path);
      const needWrite = trunc || (reqBase & FILE_MUTATING_RIGHTS) !== 0 || (ff & FDFLAGS.APPEND) !== 0;
      const needRead = (reqBase & READ_RIGHTS) !== 0;
      const r = resolve(e, path, follow);
      let hostFd = -1;
      try {
        if (r.name === '.') {
          if (creat && excl) fail(ERRNO.EXIST);
          if (needWrite) fail(ERRNO.ISDIR);
          hostFd = openSync(selfPath(r.dir), C.O_RDONLY | O_DIRECTORY);
        } else {
          if (r.mustBeDir && creat) fail(ERRNO.ISDIR);
          let flags = (needWrite ? (needRead ? C.O_RDWR : C.O_WRONLY) : C.O_RDONLY) | O_NOFOLLOW | O_NONBLOCK;
          if (creat) flags |= C.O_CREAT;
          if (excl) flags |= C.O_EXCL;
          if (trunc) flags |= C.O_TRUNC;
          if (wantDir || r.mustBeDir) flags |= O_DIRECTORY;
          hostFd = openSync(childPath(r.dir, r.name), flags, 0o666);
        }
        const st = fstatSync(hostFd);
        const isDir = st.isDirectory();
        if (wantDir && !isDir) fail(ERRNO.NOTDIR);
        const ro = e.tree?.readOnly === true;
        const baseMask = isDir ? (ro ? DIR_RIGHTS_RO : DIR_RIGHTS_RW) : ro ? FILE_RIGHTS_RO : FILE_RIGHTS_RW;
        const inhMask = isDir ? (ro ? DIR_INHERITING_RO : DIR_INHERITING_RW) : ro ? FILE_RIGHTS_RO : FILE_RIGHTS_RW;
        const entry: FdEntry = {
          kind: isDir ? 'directory' : 'file',
          filetype: filetypeOf(st),
          hostFd,
          // Requested rights beyond what the directory may pass on are dropped, not refused: libc and
          // Rust std ask for generous sets (seek on a directory, set-times on a read-only file).
          rightsBase: reqBase & e.rightsInheriting & baseMask,
          rightsInheriting: reqInh & e.rightsInheriting & inhMask,
          fdflags: isDir ? ff & ~FDFLAGS.APPEND : ff,
          position: 0,
          tree: e.tree,
          preopenName: undefined,
          depth: r.name === '.' ? r.dir.depth : r.dir.depth + 1,
          hostPath: r.name === '.' ? r.dir.hostPath : `${r.dir.hostPath}/${r.name}`,
          dir: undefined,
        };
        const newFd = fds.add(entry);
        hostFd = -1;
        mem.setU32(fdPtr, newFd);
      } finally {
        if (hostFd >= 0) closeSync(hostFd);
        release(r);
      }
      return ERRNO.SUCCESS;
    },

    path_readlink(fd: number, pathPtr: number, pathLen: number, buf: number, bufLen: number, usedPtr: number): number {
      const e = dirEntry(ctx, fd);
      needRights(e, RIGHTS.PATH_READLINK);
      const out = mem.bytes(buf, bufLen);
      mem.check(usedPtr, 4);
      const path = mem.string(pathPtr, pathLen);
      const target = withPath(e, path, endsAsDirectory(path), (r) => {
        if (r.name === '.') fail(ERRNO.INVAL);
        return readlinkSync(childPath(r.dir, r.name), { encoding: 'buffer' });
      });
      const n = Math.min(target.length, out.length);
      out.set(target.subarray(0, n));
      mem.setU32(usedPtr, n);
      return ERRNO.SUCCESS;
    },

    path_remove_directory(fd: number, pathPtr: number, pathLen: number): number {
      const e = dirEntry(ctx, fd);
      denyReadOnly(ctx, e, 'path_remove_directory');
      needRights(e, RIGHTS.PATH_REMOVE_DIRECTORY);
      const path = mem.string(pathPtr, pathLen);
      withPath(e, path, false, (r) => {
        if (r.name === '.') fail(ERRNO.INVAL);
        rmdirSync(childPath(r.dir, r.name));
      });
      return ERRNO.SUCCESS;
    },

    path_rename(fd: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const eo = dirEntry(ctx, fd);
      const en = dirEntry(ctx, newFd);
      denyReadOnly(ctx, eo, 'path_rename (source)');
      denyReadOnly(ctx, en, 'path_rename');
      needRights(eo, RIGHTS.PATH_RENAME_SOURCE);
      needRights(en, RIGHTS.PATH_RENAME_TARGET);
      const oldPath = mem.string(oldPtr, oldLen);
      const newPath = mem.string(newPtr, newLen);
      withPath(eo, oldPath, false, (ro) => {
        withPath(en, newPath, false, (rn) => {
          if (ro.name === '.' || rn.name === '.') fail(ERRNO.BUSY);
          if (ro.mustBeDir || rn.mustBeDir) {
            const s = lstatFinal(ro);
            if (s === undefined) fail(ERRNO.NOENT);
            if (!s.isDirectory()) fail(ERRNO.NOTDIR);
          }
          renameSync(childPath(ro.dir, ro.name), childPath(rn.dir, rn.name));
        });
      });
      return ERRNO.SUCCESS;
    },

    path_symlink(oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number): number {
      const e = dirEntry(ctx, fd);
      denyReadOnly(ctx, e, 'path_symlink');
      needRights(e, RIGHTS.PATH_SYMLINK);
      const target = mem.string(oldPtr, oldLen);
      const path = mem.string(newPtr, newLen);
      if (target.length === 0) fail(ERRNO.NOENT);
      withPath(e, path, false, (r) => {
        if (!symlinkTargetStaysInside(target, r.dir.depth)) {
          ctx.violation('filesystem', `path_symlink refused: target '${target}' leads outside preopen '${e.tree?.guestPath ?? '?'}'`);
          fail(ERRNO.PERM);
        }
        if (r.name === '.') fail(ERRNO.EXIST);
        if (r.mustBeDir) {
          const s = lstatFinal(r);
          if (s === undefined) fail(ERRNO.NOENT);
          fail(s.isDirectory() ? ERRNO.EXIST : ERRNO.NOTDIR);
        }
        symlinkSync(target, childPath(r.dir, r.name));
      });
      return ERRNO.SUCCESS;
    },

    path_unlink_file(fd: number, pathPtr: number, pathLen: number): number {
      const e = dirEntry(ctx, fd);
      denyReadOnly(ctx, e, 'path_unlink_file');
      needRights(e, RIGHTS.PATH_UNLINK_FILE);
      const path = mem.string(pathPtr, pathLen);
      withPath(e, path, false, (r) => {
        if (r.name === '.') fail(ERRNO.ISDIR);
        if (r.mustBeDir) {
          const s = lstatFinal(r);
          if (s === undefined) fail(ERRNO.NOENT);
          fail(s.isDirectory() ? ERRNO.ISDIR : ERRNO.NOTDIR);
        }
        unlinkSync(childPath(r.dir, r.name));
      });
      return ERRNO.SUCCESS;
    },
  };
}

export type PathFunctions = ReturnType<typeof createPathFunctions>;
