import { closeSync } from 'node:fs';
import type { IoCounters } from '../host/counters.ts';
import { dirPerms, type FsPerms, type FsTree } from '../host/filesystem.ts';
import { ERRNO, fail } from './errno.ts';

export type FdKind = 'file' | 'directory' | 'stdin' | 'stdout' | 'stderr' | 'listener' | 'socket';

/** A listing taken when the guest starts reading a directory; cookies index into it. */
export interface DirSnapshot {
  names: Buffer[];
  inos: Array<bigint | undefined>;
  types: Array<number | undefined>;
}

export interface FdEntry {
  kind: FdKind;
  filetype: number;
  /** The host descriptor this entry owns, or -1 for stdio (which is served by the stdio streams). */
  hostFd: number;
  rightsBase: number;
  rightsInheriting: number;
  fdflags: number;
  /** The guest-visible file offset; Node has no lseek, so every transfer is positional. */
  position: number;
  tree: FsTree | undefined;
  /**
   * What the filesystem core lets this handle do, bounded by its preopen. Preview1's finer-grained
   * per-handle limits are its rights (`rightsBase`), checked by the ABI on top.
   */
  perms: FsPerms;
  /** Set only on the preopen's own descriptor, and only until it is renumbered away. */
  preopenName: Uint8Array | undefined;
  /** Directory depth below the preopen root (0 = the root), used to vet symlink targets. */
  depth: number;
  /** Best-known host path; only relied upon where /proc/self/fd is unavailable. */
  hostPath: string;
  dir: DirSnapshot | undefined;
  /** Sockets only: the listener's index or the connection's number in the socket helper. */
  socket?: number;
  /** Sockets only: lets the helper go of the socket; run once, when the entry is released. */
  release?: () => void;
}

const NO_PERMS = dirPerms(false, false);

/** An entry backed by no host file or directory (stdio, sockets): the file fields stay empty. */
export function hostlessEntry(kind: FdKind, filetype: number, rightsBase: number, rightsInheriting: number, fdflags: number, socket?: number): FdEntry {
  return {
    kind,
    filetype,
    hostFd: -1,
    rightsBase,
    rightsInheriting,
    fdflags,
    position: 0,
    tree: undefined,
    perms: NO_PERMS,
    preopenName: undefined,
    depth: 0,
    hostPath: '',
    dir: undefined,
    ...(socket !== undefined && { socket }),
  };
}

/**
 * Guest descriptor numbers to entries. Counts every guest-visible descriptor (stdio and preopens
 * included) in the core's io counters, against `io.maxFileDescriptors`.
 */
export class FdTable {
  private readonly entries: Array<FdEntry | undefined> = [];
  private readonly counters: IoCounters;

  constructor(counters: IoCounters) {
    this.counters = counters;
  }

  get count(): number {
    return this.counters.descriptors;
  }

  get(fd: number): FdEntry {
    const e = this.entries[fd >>> 0];
    if (e === undefined) fail(ERRNO.BADF);
    return e;
  }

  has(fd: number): boolean {
    return this.entries[fd >>> 0] !== undefined;
  }

  /** Throws EMFILE when one more descriptor would exceed the limit; call before opening host resources. */
  reserve(): void {
    if (!this.counters.descriptorAvailable()) fail(ERRNO.MFILE);
  }

  /** Places an entry at a fixed number during setup (stdio, preopens); setup is not limited. */
  place(fd: number, entry: FdEntry): void {
    if (this.entries[fd] === undefined) this.counters.placeDescriptor();
    this.entries[fd] = entry;
  }

  /** Gives the entry the lowest free number, like POSIX open(). */
  add(entry: FdEntry): number {
    this.reserve();
    let fd = this.entries.indexOf(undefined);
    if (fd === -1) fd = this.entries.length;
    this.entries[fd] = entry;
    this.counters.placeDescriptor();
    return fd;
  }

  /** Detaches and returns the entry; the caller releases its host resources. */
  remove(fd: number): FdEntry {
    const e = this.get(fd);
    this.entries[fd >>> 0] = undefined;
    this.counters.releaseDescriptor();
    // Keep the array dense-ish so indexOf(undefined) stays meaningful for lowest-free allocation.
    while (this.entries.length > 0 && this.entries[this.entries.length - 1] === undefined) this.entries.pop();
    return e;
  }

  /** fd_renumber: `to` must be open; it is closed and replaced by `from`. */
  renumber(from: number, to: number): FdEntry | undefined {
    const src = this.get(from);
    this.get(to);
    if ((from >>> 0) === (to >>> 0)) return undefined;
    const old = this.entries[to >>> 0];
    this.entries[to >>> 0] = src;
    this.remove(from);
    return old;
  }

  *[Symbol.iterator](): IterableIterator<[number, FdEntry]> {
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (e !== undefined) yield [i, e];
    }
  }

  /** Closes every host descriptor and empties the table. */
  closeAll(): void {
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (e !== undefined) {
        releaseEntry(e);
        this.counters.releaseDescriptor();
      }
      this.entries[i] = undefined;
    }
    this.entries.length = 0;
  }
}

export function releaseEntry(e: FdEntry): void {
  if (e.hostFd >= 0) {
    const fd = e.hostFd;
    e.hostFd = -1;
    try {
      closeSync(fd);
    } catch {
      // Already gone; nothing the guest or host can do about it.
    }
  }
  e.dir = undefined;
  const release = e.release;
  if (release !== undefined) {
    e.release = undefined;
    release();
  }
}
