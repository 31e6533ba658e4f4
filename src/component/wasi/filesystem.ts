/**
 * wasi:filesystem (types, preopens): a translation onto the filesystem core
 * (`src/host/filesystem.ts`), the same one the preview1 host uses. Every decision (permissions on
 * handles, read-only preopens, paths leaving a preopen, trailing slashes, symlink targets) is the
 * core's; this layer decodes WIT arguments, wraps handles as the `descriptor` resource and maps the
 * core's error names to `error-code`.
 */
import {
  closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, futimesSync, lstatSync, readdirSync, readSync, writeSync,
  type BigIntStats,
} from 'node:fs';
import { closePreopens, FilesystemCore, openPreopens, type FsPerms, type FsHandle, type FsTree } from '../../host/filesystem.ts';
import { hostFail } from '../../host/host-error.ts';
import { childPath, selfPath } from '../../host/path-resolver.ts';
import { errorCodeOf, guardClass, guardFunctions, type HostState } from './host-state.ts';
import { DEFAULT_CHUNK, type ByteSink, type ByteSource, type Io } from './io.ts';

const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

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
  if (v < 0n || v > MAX_OFFSET) hostFail('EINVAL');
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
  const fs = new FilesystemCore(state.violations);

  class Descriptor implements FsHandle {
    #fd: number;
    readonly #isDir: boolean;
    /** Preopens share one host descriptor for the host's lifetime; dropping a copy keeps it. */
    readonly #owned: boolean;
    readonly tree: FsTree;
    readonly perms: FsPerms;
    readonly hostPath: string;
    readonly depth: number;

    constructor(fd: number, isDir: boolean, tree: FsTree, perms: FsPerms, hostPath: string, depth: number, owned: boolean) {
      this.#fd = fd;
      this.#isDir = isDir;
      this.tree = tree;
      this.perms = perms;
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

    /** A file descriptor the core lets write, for an operation named as the core names it. */
    #writableFile(operation: string): number {
      const fd = this.#file();
      attempt(() => fs.requireWrite(this, operation));
      return fd;
    }

    #readableFile(): number {
      const fd = this.#file();
      attempt(() => fs.requireRead(this));
      return fd;
    }

    readViaStream(at: bigint): InstanceType<Io['InputStream']> {
      const fd = this.#readableFile();
      let position = attempt(() => offset(at));
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

    #sink(fd: number, position: () => number, advance: (n: number) => void): ByteSink {
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
      const fd = this.#writableFile('write');
      let position = attempt(() => offset(at));
      return new io.OutputStream(this.#sink(fd, () => position, (n) => (position += n)));
    }

    appendViaStream(): InstanceType<Io['OutputStream']> {
      const fd = this.#writableFile('write');
      return new io.OutputStream(this.#sink(fd, () => Number(fstatSync(fd, { bigint: true }).size), () => {}));
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
      return { read: this.perms.read, write: this.perms.write, mutateDirectory: this.perms.mutate };
    }

    getType(): string {
      return attempt(() => descriptorType(fstatSync(this.hostFd)));
    }

    setSize(size: bigint): void {
      const fd = this.#writableFile('set-size');
      attempt(() => ftruncateSync(fd, offset(size)));
    }

    setTimes(atime: NewTimestamp, mtime: NewTimestamp): void {
      const fd = this.hostFd;
      attempt(() => {
        fs.requireChange(this, this.#isDir, 'set-times');
        const st = fstatSync(fd, { bigint: true });
        futimesSync(fd, seconds(atime, st.atimeNs), seconds(mtime, st.mtimeNs));
      });
    }

    read(length: bigint, at: bigint): [Uint8Array, boolean] {
      const fd = this.#readableFile();
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
      const fd = this.#writableFile('write');
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
      return attempt(() => {
        fs.requireRead(dir);
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
      const dir = this.#dir();
      attempt(() => fs.createDirectoryAt(dir, path));
    }

    stat() {
      return attempt(() => stat(fstatSync(this.hostFd, { bigint: true })));
    }

    statAt(flags: PathFlags, path: string) {
      const dir = this.#dir();
      return attempt(() => stat(fs.statAt(dir, path, flags.symlinkFollow === true)));
    }

    setTimesAt(flags: PathFlags, path: string, atime: NewTimestamp, mtime: NewTimestamp): void {
      const dir = this.#dir();
      attempt(() => fs.setTimesAt(dir, path, flags.symlinkFollow === true, (t) => {
        const st = t.stat();
        t.set(seconds(atime, st.atimeNs), seconds(mtime, st.mtimeNs));
      }));
    }

    linkAt(oldFlags: PathFlags, oldPath: string, newDescriptor: Descriptor, newPath: string): void {
      const from = this.#dir();
      const to = newDescriptor.#dir();
      attempt(() => fs.linkAt(from, oldPath, oldFlags.symlinkFollow === true, to, newPath));
    }

    openAt(pathFlags: PathFlags, path: string, openFlags: OpenFlags, flags: DescriptorFlags): Descriptor {
      const dir = this.#dir();
      const request = {
        follow: pathFlags.symlinkFollow === true,
        create: openFlags.create === true,
        exclusive: openFlags.exclusive === true,
        truncate: openFlags.truncate === true,
        directory: openFlags.directory === true,
        read: flags.read === true,
        write: flags.write === true,
        mutate: flags.mutateDirectory === true,
      };
      // The core's own refusals (read-only, bad flags) come before the descriptor limit.
      if (request.create || request.truncate || request.write || request.mutate) attempt(() => fs.requireMutate(dir, 'open for writing'));
      if (request.directory && (request.create || request.truncate)) throw 'invalid';
      if (!state.reserveFile()) throw 'insufficient-memory';
      try {
        const o = attempt(() => fs.openAt(dir, path, request));
        return new Descriptor(o.hostFd, o.isDir, this.tree, o.perms, o.hostPath, o.depth, true);
      } catch (err) {
        state.releaseFile();
        throw err;
      }
    }

    readlinkAt(path: string): string {
      const dir = this.#dir();
      return attempt(() => fs.readlinkAt(dir, path).toString('utf8'));
    }

    removeDirectoryAt(path: string): void {
      const dir = this.#dir();
      attempt(() => fs.removeDirectoryAt(dir, path));
    }

    renameAt(oldPath: string, newDescriptor: Descriptor, newPath: string): void {
      const from = this.#dir();
      const to = newDescriptor.#dir();
      attempt(() => fs.renameAt(from, oldPath, to, newPath));
    }

    symlinkAt(oldPath: string, newPath: string): void {
      const dir = this.#dir();
      attempt(() => fs.symlinkAt(oldPath, dir, newPath));
    }

    unlinkFileAt(path: string): void {
      const dir = this.#dir();
      attempt(() => fs.unlinkFileAt(dir, path));
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
      const dir = this.#dir();
      return attempt(() => {
        const st: BigIntStats = fs.statAt(dir, path, flags.symlinkFollow === true);
        return { upper: st.dev, lower: st.ino };
      });
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

  // Preopens are opened once, up front, by the core; a grant it cannot open is a policy error.
  const preopens = openPreopens(state.caps);
  for (let i = 0; i < preopens.length; i++) state.counters.placeDescriptor();

  function getDirectories(): [Descriptor, string][] {
    return preopens.map((p) => [new Descriptor(p.hostFd, true, p.tree, p.perms, p.hostPath, 0, false), p.tree.guestPath]);
  }

  return {
    close(): void {
      for (const d of [...open]) d[Symbol.dispose]();
      for (let i = 0; i < preopens.length; i++) state.counters.releaseDescriptor();
      closePreopens(preopens);
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
