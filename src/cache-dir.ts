import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/** `$WASM_SANDBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/wasm-sandbox`, else `~/.cache/wasm-sandbox`. */
export function defaultCacheDir(): string {
  const explicit = process.env.WASM_SANDBOX_CACHE_DIR;
  if (explicit) return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg || join(process.getBuiltinModule('node:os').homedir(), '.cache'), 'wasm-sandbox');
}

/** Owned by this user and writable by nobody else: what a cache whose contents get executed requires. */
export function ownedPrivately(st: Stats): boolean {
  const uid = process.getuid?.();
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}

/**
 * Whether `dir` is a directory only this user can write to, creating it (mode 0700) when `create`.
 * Anything read from such a cache runs as host or guest code, so a directory that fails the check is
 * not used at all.
 */
export function privateDirectory(dir: string, create: boolean): boolean {
  try {
    if (create) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(dir, 'r');
    try {
      const st = fstatSync(fd);
      return st.isDirectory() && ownedPrivately(st);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** The file's contents when it is owned by this user and writable by nobody else; undefined otherwise or when it cannot be read. */
export function readPrivateFile(path: string): Buffer | undefined {
  try {
    const fd = openSync(path, 'r');
    try {
      return ownedPrivately(fstatSync(fd)) ? readFileSync(fd) : undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** Writes `data` aside and renames it into place, so no reader ever sees half a file; false when it could not. */
export function writeAtomically(path: string, data: Uint8Array): boolean {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, path);
    return true;
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing was written.
    }
    return false;
  }
}

/**
 * Deletes the least recently written `.bin` entries of `dir` beyond the newest `keep`, so a cache
 * that is written on every miss stays bounded. Best effort: entries another process removes first
 * are simply gone.
 */
export function keepNewest(dir: string, keep: number): void {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.bin'));
  } catch {
    return;
  }
  if (names.length <= keep) return;
  const aged = names.flatMap((name) => {
    try {
      return [{ name, mtime: statSync(join(dir, name)).mtimeMs }];
    } catch {
      return [];
    }
  });
  aged.sort((a, b) => b.mtime - a.mtime);
  for (const { name } of aged.slice(keep)) {
    try {
      unlinkSync(join(dir, name));
    } catch {
      // Already gone.
    }
  }
}

/**
 * A 64-bit spread of every `stride`-th word (and the tail), for naming cache entries. Over a module,
 * every 16th word takes about 0.1 ms on a cold start where every byte in JS takes over a millisecond.
 * Not collision-resistant: callers compare what an entry is for in full before using it.
 */
export function fingerprint(bytes: Uint8Array, stride: number): string {
  let a = 0x811c9dc5 ^ bytes.length;
  let b = 0x01000193;
  const words = bytes.length >>> 2;
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice(0, words * 4);
  const view = new Int32Array(aligned.buffer, aligned.byteOffset, words);
  for (let i = 0; i < words; i += stride) {
    const w = view[i];
    a = Math.imul(a ^ w, 0x9e3779b1);
    b = Math.imul((b + w) | 0, 0x85ebca77) ^ (b >>> 15);
  }
  for (let i = words * 4; i < bytes.length; i++) a = Math.imul(a ^ bytes[i], 0x9e3779b1);
  return (a >>> 0).toString(36) + (b >>> 0).toString(36);
}
