/**
 * Instrumented modules kept on disk between processes, the way wasmtime's CLI caches compiled code:
 * rewriting a module costs milliseconds in a fresh process (the rewriter itself is not yet compiled by
 * V8), which is most of what a short command-line run spends above plain Node.
 *
 * An entry holds the rewritten bytes and their module info under a key made of the original's length
 * and SHA-256, the options, and the file the rewriter was loaded from (size and modification time, as
 * Python keys its bytecode cache), so a new build never reads an old build's output. The original
 * itself is not kept: its hash says which module an entry is for.
 *
 * What is read from here runs as the guest's code with its limits compiled in, so it is read through
 * PrivateCache (cache-dir.ts): private directories and files only, no symlinks, key and payload hash
 * compared before use. The folder is bounded in bytes (`cacheMaxBytes`) and in entries.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheMaxBytes, fingerprint, PrivateCache } from '../../cache-dir.ts';
import type { InstrumentOptions } from '../../module/instrument.ts';
import type { ModuleInfo } from '../../module/module-info.ts';

/** Entries kept; the least recently used beyond this go when a new one is written. */
const MAX_ENTRIES = 256;

export interface StoredVariant {
  bytes: Uint8Array;
  info: ModuleInfo;
}

/** SHA-256 of originals already seen: an original is hashed once however many variants it has. */
const originalHashes = new WeakMap<Uint8Array, string>();

function originalHash(original: Uint8Array): string {
  let hash = originalHashes.get(original);
  if (hash === undefined) {
    hash = process.getBuiltinModule('node:crypto').createHash('sha256').update(original).digest('hex');
    originalHashes.set(original, hash);
  }
  return hash;
}

export class InstrumentedStore {
  private readonly cache: PrivateCache;

  /** `cacheDir` is the sandbox's cache directory; entries go to its `instrumented` folder, at most `maxBytes` of them. */
  constructor(cacheDir: string, maxBytes?: number) {
    this.cache = new PrivateCache(cacheDir, 'instrumented', { maxBytes: cacheMaxBytes(maxBytes), maxEntries: MAX_ENTRIES });
  }

  /** The stored variant of `original` under `options`, or undefined. Never throws: a bad entry is a miss. */
  get(original: Uint8Array, options: InstrumentOptions): StoredVariant | undefined {
    const key = entryKey(original, options);
    const data = this.cache.read(entryName(key), key);
    if (data === undefined || data.length < 4) return undefined;
    const infoEnd = 4 + data.readUInt32LE(0);
    if (infoEnd > data.length) return undefined;
    try {
      const info = JSON.parse(data.toString('utf8', 4, infoEnd)) as ModuleInfo;
      return { bytes: new Uint8Array(data.buffer, data.byteOffset + infoEnd, data.length - infoEnd), info };
    } catch {
      return undefined;
    }
  }

  /** Writes an entry; a cache that cannot be written only costs a rewrite next time. */
  put(original: Uint8Array, options: InstrumentOptions, variant: StoredVariant): void {
    const key = entryKey(original, options);
    const info = Buffer.from(JSON.stringify(variant.info));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(info.length, 0);
    this.cache.write(entryName(key), key, [length, info, variant.bytes]);
  }
}

function entryName(key: string): string {
  return fingerprint(Buffer.from(key), 1);
}

function entryKey(original: Uint8Array, options: InstrumentOptions): string {
  const opts = JSON.stringify(options, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  return `${original.length}|${originalHash(original)}|${opts}|${rewriterIdentity()}`;
}

let identity: string | undefined;

/** Size and modification time of the file this code was loaded from: a bundle, or the source tree's module folder. */
function rewriterIdentity(): string {
  if (identity !== undefined) return identity;
  const self = fileURLToPath(import.meta.url);
  const files = self.endsWith('.ts') ? sourceFiles() : [self];
  identity = files.map((f) => {
    const st = statSync(f);
    return `${st.size}:${st.mtimeMs}`;
  }).join(',');
  return identity;
}

/** Running from source, the rewriter is spread over src/module and this folder. */
function sourceFiles(): string[] {
  const folders = [fileURLToPath(new URL('../../module/', import.meta.url)), fileURLToPath(new URL('./', import.meta.url))];
  return folders.flatMap((d) => readdirSync(d).filter((n) => n.endsWith('.ts')).sort().map((n) => join(d, n)));
}
