import { closeSync } from 'node:fs';
import { filePerms } from '../host/filesystem.ts';
import {
  DIR_INHERITING_RO, DIR_INHERITING_RW, DIR_RIGHTS_RO, DIR_RIGHTS_RW, FDFLAGS, FDFLAGS_ALL, FILE_MUTATING_RIGHTS,
  FILE_RIGHTS_RO, FILE_RIGHTS_RW, LOOKUP_SYMLINK_FOLLOW, OFLAGS, RIGHTS, rightsFromBig,
} from './constants.ts';
import type { WasiContext } from './context.ts';
import { ERRNO, fail } from './errno.ts';
import type { FdEntry } from './fd-table.ts';
import { applyTimes, validateFstflags } from './fd-ops.ts';
import { filetypeOf, writeFilestat, writeFilestatUnstable } from './filestat.ts';
import { dirEntry, needRights } from './fs-access.ts';

const READ_RIGHTS = RIGHTS.FD_READ | RIGHTS.FD_READDIR;

/**
 * Path-based functions: path_* and path_open, translated onto the filesystem core
 * (`src/host/filesystem.ts`), which resolves every path beneath the starting directory and decides
 * what the sandbox allows. This layer decodes guest memory, checks preview1 rights and writes results.
 * Where an operation changes the tree, the core's permission check is asked first, before the
 * rights: a read-only preopen is a reported EPERM, not an ENOTCAPABLE the embedder never hears of.
 */
export function createPathFunctions(ctx: WasiContext) {
  const { mem, fds, fs } = ctx;

  function statPath(fd: number, flags: number, pathPtr: number, pathLen: number, buf: number, unstable: boolean): number {
    const e = dirEntry(ctx, fd);
    needRights(e, RIGHTS.PATH_FILESTAT_GET);
    mem.check(buf, unstable ? 56 : 64);
    const st = fs.statAt(e, mem.string(pathPtr, pathLen), (flags & LOOKUP_SYMLINK_FOLLOW) !== 0);
    if (unstable) writeFilestatUnstable(mem, buf, st, ctx.times);
    else writeFilestat(mem, buf, st, ctx.times);
    return ERRNO.SUCCESS;
  }

  return {
    path_create_directory(fd: number, pathPtr: number, pathLen: number): number {
      const e = dirEntry(ctx, fd);
      fs.requireMutate(e, 'create-directory');
      needRights(e, RIGHTS.PATH_CREATE_DIRECTORY);
      fs.createDirectoryAt(e, mem.string(pathPtr, pathLen));
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
      fs.requireMutate(e, 'set-times');
      needRights(e, RIGHTS.PATH_FILESTAT_SET_TIMES);
      fs.setTimesAt(e, mem.string(pathPtr, pathLen), (flags & LOOKUP_SYMLINK_FOLLOW) !== 0, (t) => {
        applyTimes(ctx.times, t.stat, t.set, atim, mtim, fst);
      });
      return ERRNO.SUCCESS;
    },

    path_link(oldFd: number, oldFlags: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const eo = dirEntry(ctx, oldFd);
      const en = dirEntry(ctx, newFd);
      fs.requireMutate(en, 'link');
      fs.requireMutate(eo, 'link (source)');
      needRights(eo, RIGHTS.PATH_LINK_SOURCE);
      needRights(en, RIGHTS.PATH_LINK_TARGET);
      fs.linkAt(eo, mem.string(oldPtr, oldLen), (oldFlags & LOOKUP_SYMLINK_FOLLOW) !== 0, en, mem.string(newPtr, newLen));
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
      const trunc = (o & OFLAGS.TRUNC) !== 0;
      const wantDir = (o & OFLAGS.DIRECTORY) !== 0;
      const reqBase = rightsFromBig(base);
      const reqInh = rightsFromBig(inheriting);
      const write = (reqBase & FILE_MUTATING_RIGHTS) !== 0 || (ff & FDFLAGS.APPEND) !== 0;
      if (creat || trunc || write) fs.requireMutate(e, 'open for writing');
      if (creat) needRights(e, RIGHTS.PATH_CREATE_FILE);
      if (trunc) needRights(e, RIGHTS.PATH_FILESTAT_SET_SIZE);
      if (wantDir && (creat || trunc)) fail(ERRNO.INVAL);
      fds.reserve();
      const opened = fs.openAt(e, mem.string(pathPtr, pathLen), {
        follow: (dirflags & LOOKUP_SYMLINK_FOLLOW) !== 0,
        create: creat,
        exclusive: (o & OFLAGS.EXCL) !== 0,
        truncate: trunc,
        directory: wantDir,
        read: (reqBase & READ_RIGHTS) !== 0,
        write,
        // Preview1 directories keep what their parent may do; their rights narrow it further.
        mutate: e.perms.mutate,
      });
      try {
        const { isDir } = opened;
        const ro = !e.perms.mutate;
        const baseMask = isDir ? (ro ? DIR_RIGHTS_RO : DIR_RIGHTS_RW) : ro ? FILE_RIGHTS_RO : FILE_RIGHTS_RW;
        const inhMask = isDir ? (ro ? DIR_INHERITING_RO : DIR_INHERITING_RW) : ro ? FILE_RIGHTS_RO : FILE_RIGHTS_RW;
        const entry: FdEntry = {
          kind: isDir ? 'directory' : 'file',
          filetype: filetypeOf(opened.stat),
          hostFd: opened.hostFd,
          // Requested rights beyond what the directory may pass on are dropped, not refused: libc and
          // Rust std ask for generous sets (seek on a directory, set-times on a read-only file).
          rightsBase: reqBase & e.rightsInheriting & baseMask,
          rightsInheriting: reqInh & e.rightsInheriting & inhMask,
          fdflags: isDir ? ff & ~FDFLAGS.APPEND : ff,
          position: 0,
          tree: e.tree,
          // A file may be written wherever its tree allows: preview1 rights say whether this one may.
          perms: isDir ? opened.perms : filePerms(opened.perms.read, e.perms.mutate),
          preopenName: undefined,
          depth: opened.depth,
          hostPath: opened.hostPath,
          dir: undefined,
        };
        mem.setU32(fdPtr, fds.add(entry));
      } catch (err) {
        closeSync(opened.hostFd);
        throw err;
      }
      return ERRNO.SUCCESS;
    },

    path_readlink(fd: number, pathPtr: number, pathLen: number, buf: number, bufLen: number, usedPtr: number): number {
      const e = dirEntry(ctx, fd);
      needRights(e, RIGHTS.PATH_READLINK);
      const out = mem.bytes(buf, bufLen);
      mem.check(usedPtr, 4);
      const target = fs.readlinkAt(e, mem.string(pathPtr, pathLen));
      const n = Math.min(target.length, out.length);
      out.set(target.subarray(0, n));
      mem.setU32(usedPtr, n);
      return ERRNO.SUCCESS;
    },

    path_remove_directory(fd: number, pathPtr: number, pathLen: number): number {
      const e = dirEntry(ctx, fd);
      fs.requireMutate(e, 'remove-directory');
      needRights(e, RIGHTS.PATH_REMOVE_DIRECTORY);
      fs.removeDirectoryAt(e, mem.string(pathPtr, pathLen));
      return ERRNO.SUCCESS;
    },

    path_rename(fd: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const eo = dirEntry(ctx, fd);
      const en = dirEntry(ctx, newFd);
      fs.requireMutate(eo, 'rename (source)');
      fs.requireMutate(en, 'rename');
      needRights(eo, RIGHTS.PATH_RENAME_SOURCE);
      needRights(en, RIGHTS.PATH_RENAME_TARGET);
      fs.renameAt(eo, mem.string(oldPtr, oldLen), en, mem.string(newPtr, newLen));
      return ERRNO.SUCCESS;
    },

    path_symlink(oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number): number {
      const e = dirEntry(ctx, fd);
      fs.requireMutate(e, 'symlink');
      needRights(e, RIGHTS.PATH_SYMLINK);
      fs.symlinkAt(mem.string(oldPtr, oldLen), e, mem.string(newPtr, newLen));
      return ERRNO.SUCCESS;
    },

    path_unlink_file(fd: number, pathPtr: number, pathLen: number): number {
      const e = dirEntry(ctx, fd);
      fs.requireMutate(e, 'unlink');
      needRights(e, RIGHTS.PATH_UNLINK_FILE);
      fs.unlinkFileAt(e, mem.string(pathPtr, pathLen));
      return ERRNO.SUCCESS;
    },
  };
}

export type PathFunctions = ReturnType<typeof createPathFunctions>;
