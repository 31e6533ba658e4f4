/**
 * The filesystem capability: the preopen table, permissions carried as data on every handle, and
 * every path operation, decided once for both WASI ABIs (preview1 in `src/wasi`, preview2 in
 * `src/component/wasi` only decode arguments and map the HostError codes raised here).
 *
 * As in wasmtime-wasi, a directory handle has `read` / `mutate` permissions and a file handle
 * `read` / `write`; a preopen granted `read` is a directory without `mutate`, handles opened beneath
 * it inherit at most what their parent has, and each operation checks the permission it needs
 * before touching the host. Paths are resolved by `path-resolver.ts`, one component at a time
 * beneath a directory the host holds; the host call that follows acts on one name in that directory
 * and never follows a final symlink.
 */
import {
  closeSync, constants as C, fstatSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readlinkSync, realpathSync,
  renameSync, rmdirSync, symlinkSync, unlinkSync, utimesSync, type BigIntStats, type Stats,
} from 'node:fs';
import { InvalidPolicy } from '../errors.ts';
import type { Capabilities } from '../security/capabilities.ts';
import { hostFail } from './host-error.ts';
import {
  checkGuestName, childPath, endsAsDirectory, release, resolvePath, resolverMode, selfPath, symlinkTargetStaysInside,
  type DirRef, type Resolved,
} from './path-resolver.ts';
import { requireRaceFreeResolution } from './platform.ts';
import type { Violations } from './violations.ts';

const O_NOFOLLOW = C.O_NOFOLLOW ?? 0;
const O_DIRECTORY = C.O_DIRECTORY ?? 0;
const O_NONBLOCK = C.O_NONBLOCK ?? 0;

/** One granted preopen; every handle opened beneath it remembers which one. */
export interface FsTree {
  readonly index: number;
  readonly guestPath: string;
  readonly hostPath: string;
  readonly readOnly: boolean;
}

/**
 * What a handle may do. Directories use `read` (list) and `mutate` (create, remove, rename, link
 * and change anything beneath); files use `read` and `write`. The unused one is always false.
 */
export interface FsPerms {
  readonly read: boolean;
  readonly write: boolean;
  readonly mutate: boolean;
}

export function dirPerms(read: boolean, mutate: boolean): FsPerms {
  return { read, write: false, mutate };
}

export function filePerms(read: boolean, write: boolean): FsPerms {
  return { read, write, mutate: false };
}

/** A directory or file the host holds for the guest. */
export interface FsHandle extends DirRef {
  readonly tree: FsTree | undefined;
  readonly perms: FsPerms;
}

export interface PreopenDir extends FsHandle {
  readonly tree: FsTree;
}

/** What the guest asks of an open, decoded from either ABI. */
export interface OpenRequest {
  /** Follow a final symlink (O_CREAT|O_EXCL never does; a trailing slash always does). */
  follow: boolean;
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  directory: boolean;
  read: boolean;
  /** A file handle that may write. */
  write: boolean;
  /** A directory handle that may change what is beneath it. */
  mutate: boolean;
}

export interface Opened {
  readonly hostFd: number;
  readonly isDir: boolean;
  readonly stat: Stats;
  readonly perms: FsPerms;
  readonly hostPath: string;
  readonly depth: number;
}

/** The entry whose times `setTimesAt` changes: its current stat and a setter (seconds). */
export interface TimesTarget {
  stat(): BigIntStats;
  set(atimeSec: number, mtimeSec: number): void;
}

/**
 * Opens every preopen of the grant, or none: a directory that cannot be opened is a policy error,
 * and a grant on a platform without race-free resolution is refused unless opted into by name.
 */
export function openPreopens(caps: Capabilities): PreopenDir[] {
  if (caps.filesystem.length === 0) return [];
  requireRaceFreeResolution(caps);
  const out: PreopenDir[] = [];
  caps.filesystem.forEach((p, index) => {
    let hostFd = -1;
    try {
      hostFd = openSync(p.hostPath, C.O_RDONLY | O_DIRECTORY);
      // Without /proc the walk is path based, so it must start from the directory's true location.
      const hostPath = resolverMode.useProcFd ? p.hostPath : realpathSync(p.hostPath);
      const readOnly = p.mode !== 'read-write';
      out.push({ hostFd, hostPath, depth: 0, tree: { index, guestPath: p.guestPath, hostPath, readOnly }, perms: dirPerms(true, !readOnly) });
    } catch (err) {
      if (hostFd >= 0) closeSync(hostFd);
      closePreopens(out);
      throw new InvalidPolicy(`/capabilities/filesystem/${index}/hostPath`, `cannot open preopen directory '${p.hostPath}': ${(err as Error).message}`);
    }
  });
  return out;
}

export function closePreopens(preopens: PreopenDir[]): void {
  for (const p of preopens) {
    try {
      closeSync(p.hostFd);
    } catch {
      // already gone
    }
  }
  preopens.length = 0;
}

function treeName(h: FsHandle): string {
  return h.tree?.guestPath ?? '?';
}

export class FilesystemCore {
  private readonly violations: Violations;

  constructor(violations: Violations) {
    this.violations = violations;
  }

  /** A directory operation that changes the tree needs `mutate`. */
  requireMutate(d: FsHandle, operation: string): void {
    if (d.perms.mutate) return;
    this.violations.refuse('filesystem', d.tree?.readOnly === true
      ? `${operation} refused: preopen '${treeName(d)}' is read-only`
      : `${operation} refused: the directory was opened without permission to change it`);
  }

  /**
   * Writing through a file handle needs `write`. A handle that lost it to a read-only preopen is a
   * violation; one merely opened for reading is the guest's own mistake (bad descriptor).
   */
  requireWrite(f: FsHandle, operation: string): void {
    if (f.perms.write) return;
    if (f.tree?.readOnly === true) this.violations.refuse('filesystem', `${operation} refused: preopen '${treeName(f)}' is read-only`);
    hostFail('EBADF');
  }

  /** Changing a handle's own metadata (times) needs `mutate` on a directory, `write` on a file. */
  requireChange(h: FsHandle, isDir: boolean, operation: string): void {
    if (isDir) this.requireMutate(h, operation);
    else this.requireWrite(h, operation);
  }

  requireRead(h: FsHandle): void {
    if (!h.perms.read) hostFail('EBADF');
  }

  resolve(d: FsHandle, path: string, follow: boolean): Resolved {
    return resolvePath(d, path, follow, (detail) => this.violations.refuse('filesystem', `path escapes preopen '${treeName(d)}': ${detail}`));
  }

  withPath<T>(d: FsHandle, path: string, follow: boolean, fn: (r: Resolved) => T): T {
    const r = this.resolve(d, path, follow);
    try {
      return fn(r);
    } finally {
      release(r);
    }
  }

  /** lstat of the final component, or undefined when it does not exist. */
  lstatFinal(r: Resolved): BigIntStats | undefined {
    return r.name === '.' ? fstatSync(r.dir.hostFd, { bigint: true }) : lstatSync(childPath(r.dir, r.name), { bigint: true, throwIfNoEntry: false });
  }

  statAt(d: FsHandle, path: string, follow: boolean): BigIntStats {
    return this.withPath(d, path, follow || endsAsDirectory(path), (r) => {
      const s = this.lstatFinal(r);
      if (s === undefined) return hostFail('ENOENT');
      if (r.mustBeDir && !s.isDirectory()) hostFail('ENOTDIR');
      return s;
    });
  }

  createDirectoryAt(d: FsHandle, path: string): void {
    this.requireMutate(d, 'create-directory');
    this.withPath(d, path, false, (r) => {
      if (r.name === '.') hostFail('EEXIST');
      mkdirSync(childPath(r.dir, r.name), 0o777);
    });
  }

  removeDirectoryAt(d: FsHandle, path: string): void {
    this.requireMutate(d, 'remove-directory');
    this.withPath(d, path, false, (r) => {
      if (r.name === '.') hostFail('EINVAL');
      rmdirSync(childPath(r.dir, r.name));
    });
  }

  unlinkFileAt(d: FsHandle, path: string): void {
    this.requireMutate(d, 'unlink');
    this.withPath(d, path, false, (r) => {
      if (r.name === '.') hostFail('EISDIR');
      if (r.mustBeDir) {
        const s = this.lstatFinal(r);
        if (s === undefined) hostFail('ENOENT');
        hostFail(s.isDirectory() ? 'EISDIR' : 'ENOTDIR');
      }
      unlinkSync(childPath(r.dir, r.name));
    });
  }

  linkAt(od: FsHandle, oldPath: string, follow: boolean, nd: FsHandle, newPath: string): void {
    this.requireMutate(nd, 'link');
    // A second name for a read-only file must never appear where it could be written through.
    this.requireMutate(od, 'link (source)');
    this.withPath(od, oldPath, follow, (ro) => {
      this.withPath(nd, newPath, false, (rn) => {
        if (ro.name === '.') hostFail('EPERM');
        if (rn.name === '.') hostFail('EEXIST');
        if (ro.mustBeDir) {
          const s = this.lstatFinal(ro);
          if (s === undefined) hostFail('ENOENT');
          hostFail(s.isDirectory() ? 'EPERM' : 'ENOTDIR');
        }
        if (rn.mustBeDir) hostFail(this.lstatFinal(rn) === undefined ? 'ENOENT' : 'EEXIST');
        linkSync(childPath(ro.dir, ro.name), childPath(rn.dir, rn.name));
      });
    });
  }

  renameAt(od: FsHandle, oldPath: string, nd: FsHandle, newPath: string): void {
    this.requireMutate(od, 'rename (source)');
    this.requireMutate(nd, 'rename');
    this.withPath(od, oldPath, false, (ro) => {
      this.withPath(nd, newPath, false, (rn) => {
        if (ro.name === '.' || rn.name === '.') hostFail('EBUSY');
        if (ro.mustBeDir || rn.mustBeDir) {
          const s = this.lstatFinal(ro);
          if (s === undefined) hostFail('ENOENT');
          if (!s.isDirectory()) hostFail('ENOTDIR');
        }
        renameSync(childPath(ro.dir, ro.name), childPath(rn.dir, rn.name));
      });
    });
  }

  symlinkAt(target: string, d: FsHandle, path: string): void {
    this.requireMutate(d, 'symlink');
    if (target.length === 0) hostFail('ENOENT');
    checkGuestName(target);
    this.withPath(d, path, false, (r) => {
      if (!symlinkTargetStaysInside(target, r.dir.depth)) {
        this.violations.refuse('filesystem', `symlink refused: target '${target}' leads outside preopen '${treeName(d)}'`);
      }
      if (r.name === '.') hostFail('EEXIST');
      if (r.mustBeDir) {
        const s = this.lstatFinal(r);
        if (s === undefined) hostFail('ENOENT');
        hostFail(s.isDirectory() ? 'EEXIST' : 'ENOTDIR');
      }
      symlinkSync(target, childPath(r.dir, r.name));
    });
  }

  /**
   * The target of a symlink, as stored. A target that leaves the preopen (absolute, or climbing
   * above its root) would tell the guest about the host's layout, so it is refused instead.
   */
  readlinkAt(d: FsHandle, path: string): Buffer {
    return this.withPath(d, path, endsAsDirectory(path), (r) => {
      if (r.name === '.') hostFail('EINVAL');
      const target = readlinkSync(childPath(r.dir, r.name), { encoding: 'buffer' });
      if (!symlinkTargetStaysInside(target.toString('utf8'), r.dir.depth)) {
        this.violations.refuse('filesystem', `readlink refused: the target of '${path}' leads outside preopen '${treeName(d)}'`);
      }
      return target;
    });
  }

  setTimesAt(d: FsHandle, path: string, follow: boolean, apply: (t: TimesTarget) => void): void {
    this.requireMutate(d, 'set-times');
    this.withPath(d, path, follow || endsAsDirectory(path), (r) => {
      if (r.name === '.') {
        const self = selfPath(r.dir);
        const dirFd = r.dir.hostFd;
        apply({ stat: () => fstatSync(dirFd, { bigint: true }), set: (a, m) => utimesSync(self, a, m) });
        return;
      }
      const p = childPath(r.dir, r.name);
      const stat = (): BigIntStats => lstatSync(p, { bigint: true });
      if (r.mustBeDir && !stat().isDirectory()) hostFail('ENOTDIR');
      // The final component is never a symlink we were asked to follow (resolution did that), so
      // lutimes acts on exactly the named entry.
      apply({ stat, set: (a, m) => lutimesSync(p, a, m) });
    });
  }

  /**
   * Opens a file or directory beneath `d`. The new handle's permissions are what was asked for,
   * within what `d` has: asking to create, truncate, write or mutate needs `mutate` on `d`.
   * The caller reserves the descriptor beforehand and owns `hostFd` afterwards.
   */
  openAt(d: FsHandle, path: string, req: OpenRequest): Opened {
    if (req.create || req.truncate || req.write || req.mutate) this.requireMutate(d, 'open for writing');
    if (req.directory && (req.create || req.truncate)) hostFail('EINVAL');
    const follow = (req.follow && !(req.create && req.exclusive)) || endsAsDirectory(path);
    const write = req.write || req.truncate;
    return this.withPath(d, path, follow, (r) => {
      let hostFd = -1;
      try {
        if (r.name === '.') {
          if (req.create && req.exclusive) hostFail('EEXIST');
          if (write) hostFail('EISDIR');
          hostFd = openSync(selfPath(r.dir), C.O_RDONLY | O_DIRECTORY);
        } else {
          if (r.mustBeDir && req.create) hostFail('EISDIR');
          let flags = (write ? (req.read ? C.O_RDWR : C.O_WRONLY) : C.O_RDONLY) | O_NOFOLLOW | O_NONBLOCK;
          if (req.create) flags |= C.O_CREAT;
          if (req.exclusive) flags |= C.O_EXCL;
          if (req.truncate) flags |= C.O_TRUNC;
          if (req.directory || r.mustBeDir) flags |= O_DIRECTORY;
          hostFd = openSync(childPath(r.dir, r.name), flags, 0o666);
        }
        const stat = fstatSync(hostFd);
        const isDir = stat.isDirectory();
        if (req.directory && !isDir) hostFail('ENOTDIR');
        const opened: Opened = {
          hostFd,
          isDir,
          stat,
          perms: isDir ? dirPerms(req.read && d.perms.read, req.mutate && d.perms.mutate) : filePerms(req.read, req.write && d.perms.mutate),
          hostPath: r.name === '.' ? r.dir.hostPath : `${r.dir.hostPath}/${r.name}`,
          depth: r.name === '.' ? r.dir.depth : r.dir.depth + 1,
        };
        hostFd = -1;
        return opened;
      } finally {
        if (hostFd >= 0) closeSync(hostFd);
      }
    });
  }
}
