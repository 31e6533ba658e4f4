/**
 * wasi:filesystem (types, preopens) confined exactly like the preview1 host: every path is resolved
 * by the same `resolvePath` core, one component at a time beneath a directory the host holds, and
 * the host call that follows acts on a single name in that directory without following a final
 * symlink. A read-only preopen refuses every mutation before the host is touched, and nothing
 * reached through it is ever writable; a path that leaves its preopen is refused with
 * `not-permitted`. Both refusals are reported to the embedder as violations.
 */
import {
  closeSync, constants as C, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, futimesSync, linkSync, lstatSync,
  lutimesSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, renameSync, rmdirSync, symlinkSync,
  unlinkSync, writeSync, type BigIntStats,
} from 'node:fs';
import { InvalidPolicy } from '../../errors.ts';
import { ERRNO, fail } from '../../wasi/errno.ts';
import {
  childPath, endsAsDirectory, release, resolvePath, resolverMode, selfPath, symlinkTargetStaysInside, type DirRef, type Resolved,
} from '../../wasi/path-resolver.ts';
import { errorCodeOf, guardClass, guardFunctions, type HostState } from './host-state.ts';
import { DEFAULT_CHUNK, type ByteSink, type ByteSource, type Io } from './io.ts';

const O_NOFOLLOW = C.O_NOFOLLOW ?? 0;
const O_DIRECTORY = C.O_DIRECTORY ?? 0;
const O_NONBLOCK = C.O_NONBLOCK ?? 0;
const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

interface Tree {
  readonly guestPath: string;
  readonly readOnly: boolean;
}

export interface DescriptorFlags {
  read?: boolean;
  write?: boolean;
  fileIntegritySync?: boolean;
  dataIntegritySync?: boolean;
  requestedWriteSync?: boolean;
  mutateDirectory?: boolean;
}
interface PathFlags { symlinkFollow?: boolean }
interface OpenFlags { create?: boolean; directory?: boolean; exclusive?: boolean; truncate?: boolean }
interface Datetime { seconds: bigint; nanoseconds: number }
type NewTimestamp = { tag: 'no-change' } | { tag: 'now' } | { tag: 'timestamp'; val: Datetime };

function descriptorType(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (st.isFile()) return 'regular-file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symbolic-link';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'unknown';
}

function datetime(ns: bigint): Datetime {
  return { seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) };
}

function stat(st: BigIntStats) {
  return {
    type: descriptorType(st),
    linkCount: st.nlink,
    size: st.size,
    dataAccessTimestamp: datetime(st.atimeNs),
    dataModificationTimestamp: datetime(st.mtimeNs),
    statusChangeTimestamp: datetime(st.ctimeNs),
  };
}

function offset(v: bigint): number {
  if (v < 0n || v > MAX_OFFSET) fail(ERRNO.INVAL);
  return Number(v);
}

/** Runs a filesystem operation, turning host failures into the WIT error-code the guest sees. */
function attempt<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (typeof err === 'string') throw err;
    throw errorCodeOf(err);
  }
}

export interface FilesystemHost {
  /** Closes every descriptor the guest holds, and the preopens. */
  close(): void;
  readonly interfaces: Record<string, Record<string, unknown>>;
}

export function createFilesystem(state: HostState, io: Io): FilesystemHost {
  const open = new Set<Descriptor>();

  function refuse(detail: string): never {
    state.violation('filesystem', detail);
    throw 'not-permitted';
  }

  class Descriptor implements DirRef {
    #fd: number;
    readonly #isDir: boolean;
    readonly #tree: Tree;
    readonly #flags: DescriptorFlags;
    /** Preopens share one host descriptor for the host's lifetime; dropping a copy keeps it. */
    readonly #owned: boolean;
    readonly hostPath: string;
    readonly depth: number;

    constructor(fd: number, isDir: boolean, tree: Tree, flags: DescriptorFlags, hostPath: string, depth: number, owned: boolean) {
      this.#fd = fd;
      this.#isDir = isDir;
      this.#tree = tree;
      this.#flags = flags;
      this.hostPath = hostPath;
      this.depth = depth;
      this.#owned = owned;
      if (owned) open.add(this);
    }

    get hostFd(): number {
      if (this.#fd < 0) throw 'bad-descriptor';
      return this.#fd;
    }

    #dir(): this {
      if (!this.#isDir) throw 'not-directory';
      this.hostFd;
      return this;
    }

    #file(): number {
      if (this.#isDir) throw 'is-directory';
      return this.hostFd;
    }

    #mutate(operation: string): void {
      if (this.#tree.readOnly) refuse(`${operation} refused: preopen '${this.#tree.guestPath}' is read-only`);
      if (!this.#flags.mutateDirectory) refuse(`${operation} refused: descriptor was not opened with mutate-directory`);
    }

    #resolve<T>(path: string, follow: boolean, fn: (r: Resolved) => T): T {
      const r = resolvePath(this.#dir(), path, follow, (detail) => {
        state.violation('filesystem', `path escapes preopen '${this.#tree.guestPath}': ${detail}`);
        return fail(ERRNO.PERM);
      });
      try {
        return fn(r);
      } finally {
        release(r);
      }
    }

    readViaStream(at: bigint): InstanceType<Io['InputStream']> {
      const fd = this.#file();
      if (!this.#flags.read) throw 'bad-descriptor';
      let position = offset(at);
      const source: ByteSource = {
        read: (len) => {
          const want = state.readAllowance(len);
          if (want === 0 && len > 0) {
            // At the limit: only an actual further byte is an overrun, reaching EOF is not.
            if (readSync(fd, new Uint8Array(1), 0, 1, position) === 0) return undefined;
            state.countRead(len);
          }
          const buf = new Uint8Array(want);
          const n = readSync(fd, buf, 0, want, position);
          if (n === 0) return undefined;
          position += n;
          state.countRead(n);
          return buf.subarray(0, n);
        },
        ready: () => true,
      };
      return new io.InputStream(source);
    }

    #sink(position: () => number, advance: (n: number) => void): ByteSink {
      const fd = this.#file();
      return {
        write: (bytes) => {
          state.countWrite(bytes.length);
          let off = 0;
          while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, position() + off);
          advance(bytes.length);
        },
        capacity: () => DEFAULT_CHUNK,
      };
    }

    writeViaStream(at: bigint): InstanceType<Io['OutputStream']> {
      this.#file();
      if (!this.#flags.write) throw 'bad-descriptor';
      let position = offset(at);
      return new io.OutputStream(this.#sink(() => position, (n) => (position += n)));
    }

    appendViaStream(): InstanceType<Io['OutputStream']> {
      const fd = this.#file();
      if (!this.#flags.write) throw 'bad-descriptor';
      return new io.OutputStream(this.#sink(() => Number(fstatSync(fd, { bigint: true }).size), () => {}));
    }

    advise(): void {
      this.hostFd;
    }

    syncData(): void {
      attempt(() => fdatasyncSync(this.hostFd));
    }

    sync(): void {
      attempt(() => fsyncSync(this.hostFd));
    }

    getFlags(): DescriptorFlags {
      this.hostFd;
      return { ...this.#flags };
    }

    getType(): string {
      return attempt(() => descriptorType(fstatSync(this.hostFd)));
    }

    setSize(size: bigint): void {
      const fd = this.#file();
      if (this.#tree.readOnly) refuse(`set-size refused: preopen '${this.#tree.guestPath}' is read-only`);
      if (!this.#flags.write) throw 'bad-descriptor';
      attempt(() => ftruncateSync(fd, offset(size)));
    }

    setTimes(atime: NewTimestamp, mtime: NewTimestamp): void {
      if (this.#tree.readOnly) refuse(`set-times refused: preopen '${this.#tree.guestPath}' is read-only`);
      const fd = this.hostFd;
      attempt(() => {
        const st = fstatSync(fd, { bigint: true });
        futimesSync(fd, seconds(atime, st.atimeNs), seconds(mtime, st.mtimeNs));
      });
    }

    read(length: bigint, at: bigint): [Uint8Array, boolean] {
      const fd = this.#file();
      if (!this.#flags.read) throw 'bad-descriptor';
      return attempt(() => {
        const position = offset(at);
        const len = Math.min(Number(length > BigInt(DEFAULT_CHUNK * 16) ? BigInt(DEFAULT_CHUNK * 16) : length), DEFAULT_CHUNK * 16);
        const want = state.readAllowance(len);
        if (want === 0 && len > 0) {
          if (readSync(fd, new Uint8Array(1), 0, 1, position) === 0) return [new Uint8Array(0), true];
          state.countRead(len);
        }
        const buf = new Uint8Array(want);
        const n = readSync(fd, buf, 0, want, position);
        state.countRead(n);
        return [buf.subarray(0, n), n === 0 || (n < want && position + n >= fstatSync(fd).size)];
      });
    }

    write(buffer: Uint8Array, at: bigint): bigint {
      const fd = this.#file();
      if (this.#tree.readOnly) refuse(`write refused: preopen '${this.#tree.guestPath}' is read-only`);
      if (!this.#flags.write) throw 'bad-descriptor';
      return attempt(() => {
        const position = offset(at);
        state.countWrite(buffer.length);
        let off = 0;
        while (off < buffer.length) off += writeSync(fd, buffer, off, buffer.length - off, position + off);
        return BigInt(off);
      });
    }

    readDirectory(): InstanceType<typeof DirectoryEntryStream> {
      const dir = this.#dir();
      if (!this.#flags.read) throw 'bad-descriptor';
      return attempt(() => {
        const entries = readdirSync(selfPath(dir), { withFileTypes: true, encoding: 'utf8' });
        return new DirectoryEntryStream(entries.map((e) => {
          let type = descriptorType(e);
          if (type === 'unknown') {
            const st = lstatSync(childPath(dir, e.name), { throwIfNoEntry: false });
            if (st) type = descriptorType(st);
          }
          return { type, name: e.name };
        }));
      });
    }

    createDirectoryAt(path: string): void {
      this.#mutate('create-directory-at');
      attempt(() => this.#resolve(path, false, (r) => {
        if (r.name === '.') fail(ERRNO.EXIST);
        mkdirSync(childPath(r.dir, r.name), 0o777);
      }));
    }

    stat() {
      return attempt(() => stat(fstatSync(this.hostFd, { bigint: true })));
    }

    statAt(flags: PathFlags, path: string) {
      return attempt(() => this.#resolve(path, flags.symlinkFollow === true || endsAsDirectory(path), (r) => {
        const st = r.name === '.' ? fstatSync(r.dir.hostFd, { bigint: true }) : lstatSync(childPath(r.dir, r.name), { bigint: true, throwIfNoEntry: false });
        if (!st) return fail(ERRNO.NOENT);
        if (r.mustBeDir && !st.isDirectory()) fail(ERRNO.NOTDIR);
        return stat(st);
      }));
    }

    setTimesAt(flags: PathFlags, path: string, atime: NewTimestamp, mtime: NewTimestamp): void {
      this.#mutate('set-times-at');
      attempt(() => this.#resolve(path, flags.symlinkFollow === true || endsAsDirectory(path), (r) => {
        const target = r.name === '.' ? selfPath(r.dir) : childPath(r.dir, r.name);
        const st = lstatSync(target, { bigint: true });
        // The final component is never a symlink we were asked to follow (resolution did that).
        lutimesSync(target, seconds(atime, st.atimeNs), seconds(mtime, st.mtimeNs));
      }));
    }

    linkAt(oldFlags: PathFlags, oldPath: string, newDescriptor: Descriptor, newPath: string): void {
      // A second name for a read-only file must never appear where it could be written through.
      this.#mutate('link-at (source)');
      newDescriptor.#mutate('link-at');
      attempt(() => this.#resolve(oldPath, oldFlags.symlinkFollow === true, (ro) => {
        newDescriptor.#resolve(newPath, false, (rn) => {
          if (ro.name === '.') fail(ERRNO.PERM);
          if (rn.name === '.') fail(ERRNO.EXIST);
          linkSync(childPath(ro.dir, ro.name), childPath(rn.dir, rn.name));
        });
      }));
    }

    openAt(pathFlags: PathFlags, path: string, openFlags: OpenFlags, flags: DescriptorFlags): Descriptor {
      this.#dir();
      const wantsWrite = flags.write === true || flags.mutateDirectory === true || openFlags.create === true || openFlags.truncate === true;
      if (wantsWrite) this.#mutate('open-at for writing');
      if (openFlags.directory && (openFlags.create || openFlags.truncate)) throw 'invalid';
      if (!state.reserveFile()) throw 'insufficient-memory';
      let hostFd = -1;
      try {
        return attempt(() => {
          const creat = openFlags.create === true;
          const excl = openFlags.exclusive === true;
          // O_CREAT|O_EXCL never follows a final symlink: an existing link makes it fail with `exist`.
          const follow = (pathFlags.symlinkFollow === true && !(creat && excl)) || endsAsDirectory(path);
          return this.#resolve(path, follow, (r) => {
            const write = flags.write === true || openFlags.truncate === true;
            if (r.name === '.') {
              if (creat && excl) fail(ERRNO.EXIST);
              if (write) fail(ERRNO.ISDIR);
              hostFd = openSync(selfPath(r.dir), C.O_RDONLY | O_DIRECTORY);
            } else {
              if (r.mustBeDir && creat) fail(ERRNO.ISDIR);
              let f = (write ? (flags.read ? C.O_RDWR : C.O_WRONLY) : C.O_RDONLY) | O_NOFOLLOW | O_NONBLOCK;
              if (creat) f |= C.O_CREAT;
              if (excl) f |= C.O_EXCL;
              if (openFlags.truncate) f |= C.O_TRUNC;
              if (openFlags.directory || r.mustBeDir) f |= O_DIRECTORY;
              hostFd = openSync(childPath(r.dir, r.name), f, 0o666);
            }
            const isDir = fstatSync(hostFd).isDirectory();
            if (openFlags.directory && !isDir) fail(ERRNO.NOTDIR);
            const granted: DescriptorFlags = {
              read: flags.read === true,
              write: !isDir && flags.write === true,
              mutateDirectory: isDir && flags.mutateDirectory === true,
            };
            const d = new Descriptor(hostFd, isDir, this.#tree, granted,
              r.name === '.' ? r.dir.hostPath : `${r.dir.hostPath}/${r.name}`,
              r.name === '.' ? r.dir.depth : r.dir.depth + 1, true);
            hostFd = -1;
            return d;
          });
        });
      } catch (err) {
        state.releaseFile();
        throw err;
      } finally {
        if (hostFd >= 0) closeSync(hostFd);
      }
    }

    readlinkAt(path: string): string {
      return attempt(() => this.#resolve(path, endsAsDirectory(path), (r) => {
        if (r.name === '.') fail(ERRNO.INVAL);
        return readlinkSync(childPath(r.dir, r.name), 'utf8');
      }));
    }

    removeDirectoryAt(path: string): void {
      this.#mutate('remove-directory-at');
      attempt(() => this.#resolve(path, false, (r) => {
        if (r.name === '.') fail(ERRNO.INVAL);
        rmdirSync(childPath(r.dir, r.name));
      }));
    }

    renameAt(oldPath: string, newDescriptor: Descriptor, newPath: string): void {
      this.#mutate('rename-at (source)');
      newDescriptor.#mutate('rename-at');
      attempt(() => this.#resolve(oldPath, false, (ro) => {
        newDescriptor.#resolve(newPath, false, (rn) => {
          if (ro.name === '.' || rn.name === '.') fail(ERRNO.BUSY);
          renameSync(childPath(ro.dir, ro.name), childPath(rn.dir, rn.name));
        });
      }));
    }

    symlinkAt(oldPath: string, newPath: string): void {
      this.#mutate('symlink-at');
      if (oldPath.length === 0) throw 'no-entry';
      attempt(() => this.#resolve(newPath, false, (r) => {
        if (!symlinkTargetStaysInside(oldPath, r.dir.depth)) {
          refuse(`symlink-at refused: target '${oldPath}' leads outside preopen '${this.#tree.guestPath}'`);
        }
        if (r.name === '.') fail(ERRNO.EXIST);
        symlinkSync(oldPath, childPath(r.dir, r.name));
      }));
    }

    unlinkFileAt(path: string): void {
      this.#mutate('unlink-file-at');
      attempt(() => this.#resolve(path, false, (r) => {
        if (r.name === '.') fail(ERRNO.ISDIR);
        if (r.mustBeDir) {
          const st = lstatSync(childPath(r.dir, r.name), { throwIfNoEntry: false });
          if (!st) fail(ERRNO.NOENT);
          fail(st.isDirectory() ? ERRNO.ISDIR : ERRNO.NOTDIR);
        }
        unlinkSync(childPath(r.dir, r.name));
      }));
    }

    isSameObject(other: Descriptor): boolean {
      return attempt(() => {
        const a = fstatSync(this.hostFd, { bigint: true });
        const b = fstatSync(other.hostFd, { bigint: true });
        return a.dev === b.dev && a.ino === b.ino;
      });
    }

    metadataHash(): { upper: bigint; lower: bigint } {
      return attempt(() => {
        const st = fstatSync(this.hostFd, { bigint: true });
        return { upper: st.dev, lower: st.ino };
      });
    }

    metadataHashAt(flags: PathFlags, path: string): { upper: bigint; lower: bigint } {
      return attempt(() => this.#resolve(path, flags.symlinkFollow === true || endsAsDirectory(path), (r) => {
        const st = r.name === '.' ? fstatSync(r.dir.hostFd, { bigint: true }) : lstatSync(childPath(r.dir, r.name), { bigint: true });
        return { upper: st.dev, lower: st.ino };
      }));
    }

    [Symbol.dispose](): void {
      if (!this.#owned || this.#fd < 0) return;
      const fd = this.#fd;
      this.#fd = -1;
      open.delete(this);
      state.releaseFile();
      try {
        closeSync(fd);
      } catch {
        // already gone
      }
    }
  }

  class DirectoryEntryStream {
    readonly #entries: { type: string; name: string }[];
    #next = 0;
    constructor(entries: { type: string; name: string }[]) {
      this.#entries = entries;
    }
    readDirectoryEntry(): { type: string; name: string } | undefined {
      return this.#entries[this.#next++];
    }
  }

  guardClass(Descriptor, state);
  guardClass(DirectoryEntryStream, state);

  // Preopens are opened once, up front; a grant naming a directory that cannot be opened is a policy error.
  const preopens: { fd: number; tree: Tree; hostPath: string }[] = [];
  state.caps.filesystem.forEach((p, index) => {
    try {
      const fd = openSync(p.hostPath, C.O_RDONLY | O_DIRECTORY);
      // Without /proc the walk is path based, so it must start from the directory's true location.
      const hostPath = resolverMode.useProcFd ? p.hostPath : realpathSync(p.hostPath);
      preopens.push({ fd, tree: { guestPath: p.guestPath, readOnly: p.mode !== 'read-write' }, hostPath });
      state.openFiles++;
    } catch (err) {
      for (const q of preopens) closeSync(q.fd);
      throw new InvalidPolicy(`/capabilities/filesystem/${index}/hostPath`, `cannot open preopen directory '${p.hostPath}': ${(err as Error).message}`);
    }
  });

  function getDirectories(): [Descriptor, string][] {
    return preopens.map((p) => [
      new Descriptor(p.fd, true, p.tree, { read: true, mutateDirectory: !p.tree.readOnly }, p.hostPath, 0, false),
      p.tree.guestPath,
    ]);
  }

  return {
    close(): void {
      for (const d of [...open]) d[Symbol.dispose]();
      for (const p of preopens) {
        try {
          closeSync(p.fd);
        } catch {
          // already gone
        }
      }
      preopens.length = 0;
    },
    interfaces: {
      'wasi:filesystem/types': {
        Descriptor,
        DirectoryEntryStream,
        ...guardFunctions({ filesystemErrorCode: (): undefined => undefined }, state),
      },
      'wasi:filesystem/preopens': guardFunctions({ getDirectories }, state),
    },
  };
}

function seconds(t: NewTimestamp, currentNs: bigint): number {
  if (t.tag === 'now') return Date.now() / 1000;
  if (t.tag === 'timestamp') return Number(t.val.seconds) + t.val.nanoseconds / 1e9;
  return Number(currentNs) / 1e9;
}
