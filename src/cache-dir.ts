import { closeSync, constants as C, fstatSync, futimesSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { InvalidArguments } from './errors.ts';

/** `$WASM_SANDBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/wasm-sandbox`, else `~/.cache/wasm-sandbox`. */
export function defaultCacheDir(): string {
  const explicit = process.env.WASM_SANDBOX_CACHE_DIR;
  if (explicit) return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg || join(process.getBuiltinModule('node:os').homedir(), '.cache'), 'wasm-sandbox');
}

/** Bytes each folder of the cache directory holds at most unless told otherwise. */
export const DEFAULT_CACHE_MAX_BYTES = 512 * 1024 * 1024;

/**
 * The byte budget of each cache folder: `option` when given, else `$WASM_SANDBOX_CACHE_MAX_BYTES`
 * (a whole number of bytes), else DEFAULT_CACHE_MAX_BYTES.
 */
export function cacheMaxBytes(option?: number): number {
  if (option !== undefined) return option;
  const env = process.env.WASM_SANDBOX_CACHE_MAX_BYTES;
  if (env !== undefined && /^\d+$/.test(env.trim())) return Number(env.trim());
  return DEFAULT_CACHE_MAX_BYTES;
}

/** Throws InvalidArguments unless `value` is undefined or a whole number of bytes. */
export function checkCacheMaxBytes(value: unknown, where: string): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) {
    throw new InvalidArguments(`${where} cacheMaxBytes must be a whole number of bytes`);
  }
}

/** Owned by this user and writable by nobody else: what a cache whose contents get executed requires. */
function ownedPrivately(st: Stats): boolean {
  const uid = process.getuid?.();
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}

const MAGIC = 0x32435357; // "WSC2", little-endian
/** Magic, key length, payload length, then the payload's SHA-256; the key follows. */
export const ENTRY_HEADER_BYTES = 12 + 32;
const ENTRY_SUFFIX = '.bin';
const TMP_SUFFIX = '.tmp';
/** A temporary file this old belongs to no writer that is still running. */
const ABANDONED_MS = 60 * 60 * 1000;
/** `/proc/self/fd/N/name` names a file relative to an open directory, as openat would. */
const FD_RELATIVE = process.platform === 'linux';

/**
 * SHA-256 of the payload, so a damaged or truncated entry is a miss. What makes an entry
 * trustworthy is that only this user can have written it; the hash catches the disk, a crash or a
 * copy gone wrong. Native hashing: over a V8 code cache, a JS loop costs a cold CLI start several ms.
 */
function payloadHash(payload: Uint8Array): Buffer {
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(payload).digest();
}

/** An open directory of the chain: the descriptor, and its path for platforms without FD_RELATIVE. */
interface OpenDir {
  fd: number;
  path: string;
}

function at(dir: OpenDir, name: string): string {
  return FD_RELATIVE ? `/proc/self/fd/${dir.fd}/${name}` : join(dir.path, name);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}

/**
 * Opens `path` as a directory this user owns and only this user can write to, or returns undefined
 * (closing what it opened). `follow` is for the cache root alone, which is the user's own setting;
 * every folder below it is opened without following a symlink.
 */
function openPrivateDir(path: string, name: string, follow: boolean): OpenDir | undefined {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_DIRECTORY | (follow ? 0 : C.O_NOFOLLOW));
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory() && ownedPrivately(st)) return { fd, path: name };
  } catch {
    // Unreadable: not used.
  }
  closeQuietly(fd);
  return undefined;
}

export interface CacheBudget {
  /** Total bytes of the folder's entries; the least recently used go first beyond it. */
  maxBytes: number;
  maxEntries: number;
}

/**
 * One folder of the cache directory whose entries are code the host runs (instrumented modules,
 * V8 code caches, jco glue), so everything read from it is trusted only as far as it is private:
 *
 *  - the cache root and every folder down to the entry must be directories owned by this user and
 *    writable by nobody else; the folders below the root are opened without following symlinks, each
 *    relative to the one above it (through /proc/self/fd on Linux), so none can be swapped mid-walk;
 *  - an entry is opened with O_NOFOLLOW and must be a regular file with the same ownership;
 *  - an entry holds the full key it was written for and the SHA-256 of its payload, both compared
 *    before the payload is returned, so a damaged, truncated or misfiled entry is a miss.
 *
 * Anything that fails is a miss and is replaced on the next write; nothing from it is used. Entries
 * are written aside and renamed into place, and the folder is kept within its budget of bytes and
 * entries, least recently used first.
 */
export class PrivateCache {
  private readonly root: string;
  private readonly folder: string;
  private readonly budget: CacheBudget;

  /** `folder` is a path below `root` ('instrumented', 'transpiled/v1'); it is created on write. */
  constructor(root: string, folder: string, budget: CacheBudget) {
    this.root = root;
    this.folder = folder;
    this.budget = budget;
  }

  /** The directory of entries, or undefined when it (or a folder above it) is missing or not private. */
  private open(create: boolean): OpenDir | undefined {
    if (create) {
      try {
        mkdirSync(this.root, { recursive: true, mode: 0o700 });
      } catch {
        return undefined;
      }
    }
    let dir = openPrivateDir(this.root, this.root, true);
    for (const part of this.folder.split('/')) {
      if (dir === undefined) return undefined;
      if (create) {
        try {
          mkdirSync(at(dir, part), { mode: 0o700 });
        } catch {
          // Exists already (checked next), or cannot be made (the open fails).
        }
      }
      const next = openPrivateDir(at(dir, part), join(dir.path, part), false);
      closeQuietly(dir.fd);
      dir = next;
    }
    return dir;
  }

  /** The payload stored under `name` for `key`, or undefined. Never throws: a bad entry is a miss. */
  read(name: string, key: string): Buffer | undefined {
    const dir = this.open(false);
    if (dir === undefined) return undefined;
    try {
      let fd: number;
      try {
        fd = openSync(at(dir, name + ENTRY_SUFFIX), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
      } catch {
        return undefined;
      }
      try {
        const st = fstatSync(fd);
        if (!st.isFile() || !ownedPrivately(st) || st.size < ENTRY_HEADER_BYTES) return undefined;
        const data = Buffer.allocUnsafe(st.size);
        let off = 0;
        while (off < data.length) {
          const n = readSync(fd, data, off, data.length - off, off);
          if (n === 0) return undefined;
          off += n;
        }
        const keyBytes = Buffer.from(key);
        if (data.readUInt32LE(0) !== MAGIC || data.readUInt32LE(4) !== keyBytes.length) return undefined;
        const payloadStart = ENTRY_HEADER_BYTES + keyBytes.length;
        if (payloadStart + data.readUInt32LE(8) !== data.length) return undefined;
        // The whole key must match: a file name says little, and an entry linked or copied under
        // another name must not pass for what that name stands for.
        if (!data.subarray(ENTRY_HEADER_BYTES, payloadStart).equals(keyBytes)) return undefined;
        const payload = data.subarray(payloadStart);
        if (!payloadHash(payload).equals(data.subarray(12, ENTRY_HEADER_BYTES))) return undefined;
        // Used now: the budget drops the least recently used entries first.
        try {
          const now = Date.now() / 1000;
          futimesSync(fd, now, now);
        } catch {
          // The order of eviction only.
        }
        return payload;
      } catch {
        return undefined;
      } finally {
        closeQuietly(fd);
      }
    } finally {
      closeQuietly(dir.fd);
    }
  }

  /** Stores `payload` (the concatenation of `parts`) under `name` for `key`; false when it could not. */
  write(name: string, key: string, parts: readonly Uint8Array[]): boolean {
    const keyBytes = Buffer.from(key);
    const payload = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    const length = payload.length;
    if (ENTRY_HEADER_BYTES + keyBytes.length + length > this.budget.maxBytes) return false;
    const dir = this.open(true);
    if (dir === undefined) return false;
    const tmp = `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}${TMP_SUFFIX}`;
    try {
      const header = Buffer.alloc(ENTRY_HEADER_BYTES);
      header.writeUInt32LE(MAGIC, 0);
      header.writeUInt32LE(keyBytes.length, 4);
      header.writeUInt32LE(length, 8);
      payloadHash(payload).copy(header, 12);
      const fd = openSync(at(dir, tmp), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
      try {
        for (const part of [header, keyBytes, payload]) {
          for (let off = 0; off < part.length; ) off += writeSync(fd, part, off, part.length - off);
        }
      } finally {
        closeSync(fd);
      }
      renameSync(at(dir, tmp), at(dir, name + ENTRY_SUFFIX));
      this.prune(dir);
      return true;
    } catch {
      try {
        unlinkSync(at(dir, tmp));
      } catch {
        // Nothing was written.
      }
      return false;
    } finally {
      closeQuietly(dir.fd);
    }
  }

  /**
   * Deletes the least recently used entries beyond the budget, and temporary files of writers long
   * gone. Best effort: entries another process removes first are simply gone.
   */
  private prune(dir: OpenDir): void {
    let all: string[];
    try {
      all = readdirSync(at(dir, '.'));
    } catch {
      return;
    }
    // What a writer that died between writing and renaming left behind, once surely abandoned.
    const abandoned = Date.now() - ABANDONED_MS;
    for (const name of all.filter((n) => n.endsWith(TMP_SUFFIX))) {
      try {
        if (lstatSync(at(dir, name)).mtimeMs < abandoned) unlinkSync(at(dir, name));
      } catch {
        // Renamed or removed meanwhile.
      }
    }
    const names = all.filter((n) => n.endsWith(ENTRY_SUFFIX));
    const aged = names.flatMap((name) => {
      try {
        const st = lstatSync(at(dir, name));
        return [{ name, mtime: st.mtimeMs, size: st.size }];
      } catch {
        return [];
      }
    });
    aged.sort((a, b) => b.mtime - a.mtime);
    let bytes = 0;
    aged.forEach(({ name, size }, i) => {
      bytes += size;
      if (i < this.budget.maxEntries && bytes <= this.budget.maxBytes) return;
      try {
        unlinkSync(at(dir, name));
      } catch {
        // Already gone.
      }
    });
  }
}

/** Two 32-bit mixes of every `stride`-th word of `bytes` and of its tail. */
function spread(bytes: Uint8Array, stride: number): [number, number] {
  let a = 0x811c9dc5 ^ bytes.length;
  let b = 0x01000193;
  const words = bytes.length >>> 2;
  // A copy when unaligned (Buffer's own slice would only be another view).
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : Uint8Array.prototype.slice.call(bytes, 0, words * 4);
  const view = new Int32Array(aligned.buffer, aligned.byteOffset, words);
  for (let i = 0; i < words; i += stride) {
    const w = view[i];
    a = Math.imul(a ^ w, 0x9e3779b1);
    b = Math.imul((b + w) | 0, 0x85ebca77) ^ (b >>> 15);
  }
  for (let i = words * 4; i < bytes.length; i++) a = Math.imul(a ^ bytes[i], 0x9e3779b1);
  return [a >>> 0, b >>> 0];
}

/**
 * A 64-bit spread of every `stride`-th word (and the tail), for naming cache entries. Over a module,
 * every 16th word takes about 0.1 ms on a cold start where every byte in JS takes over a millisecond.
 * Not collision-resistant: callers compare what an entry is for in full before using it.
 */
export function fingerprint(bytes: Uint8Array, stride: number): string {
  const [a, b] = spread(bytes, stride);
  return a.toString(36) + b.toString(36);
}
