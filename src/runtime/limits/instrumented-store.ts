/**
 * Instrumented modules kept on disk between processes, the way wasmtime's CLI caches compiled code:
 * rewriting a module costs milliseconds in a fresh process (the rewriter itself is not yet compiled by
 * V8), which is most of what a short command-line run spends above plain Node.
 *
 * An entry holds the original bytes beside the rewritten ones and is used only when the original
 * matches byte for byte, so the file name needs to be nothing more than a cheap spread of the content.
 * Entries are keyed by the options and by the file the rewriter was loaded from (size and modification
 * time, as Python keys its bytecode cache), so a new build never reads an old build's output.
 *
 * What is read from here runs as the guest's code with its limits compiled in: the directory must be
 * writable only by the user running the host. It is created with mode 0700, and one that is not owned
 * by this user or is writable by others is not used at all.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fingerprint, keepNewest, privateDirectory, readPrivateFile, writeAtomically } from '../../cache-dir.ts';
import type { InstrumentOptions } from '../../module/instrument.ts';
import type { ModuleInfo } from '../../module/module-info.ts';

const MAGIC = 0x31435357; // "WSC1", little-endian
/** Entries kept; the oldest beyond this go when a new one is written. */
const MAX_ENTRIES = 256;
/** Magic, then the lengths of the key, the original bytes and the info JSON. */
const HEADER_BYTES = 16;

export interface StoredVariant {
  bytes: Uint8Array;
  info: ModuleInfo;
}

export class InstrumentedStore {
  private readonly dir: string;
  private usable: boolean | undefined;

  /** `cacheDir` is the sandbox's cache directory; entries go to its `instrumented` folder. */
  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'instrumented');
  }

  /** The stored variant of `original` under `options`, or undefined. Never throws: a bad entry is a miss. */
  get(original: Uint8Array, options: InstrumentOptions): StoredVariant | undefined {
    if (!this.trusted(false)) return undefined;
    const key = entryKey(options);
    const data = readPrivateFile(this.entryPath(original, key));
    if (data === undefined || data.length < HEADER_BYTES || data.readUInt32LE(0) !== MAGIC) return undefined;
    const keyEnd = HEADER_BYTES + data.readUInt32LE(4);
    const originalEnd = keyEnd + data.readUInt32LE(8);
    const infoEnd = originalEnd + data.readUInt32LE(12);
    if (infoEnd > data.length || originalEnd - keyEnd !== original.length) return undefined;
    // The whole key and the whole original must match: a file name says little, and a file linked
    // under another name must not pass for the variant these options ask for.
    if (data.toString('utf8', HEADER_BYTES, keyEnd) !== key) return undefined;
    if (Buffer.compare(data.subarray(keyEnd, originalEnd), original) !== 0) return undefined;
    try {
      const info = JSON.parse(data.toString('utf8', originalEnd, infoEnd)) as ModuleInfo;
      return { bytes: new Uint8Array(data.buffer, data.byteOffset + infoEnd, data.length - infoEnd), info };
    } catch {
      return undefined;
    }
  }

  /** Writes an entry; a cache that cannot be written only costs a rewrite next time. */
  put(original: Uint8Array, options: InstrumentOptions, variant: StoredVariant): void {
    if (!this.trusted(true)) return;
    const key = entryKey(options);
    const keyBytes = Buffer.from(key);
    const info = Buffer.from(JSON.stringify(variant.info));
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt32LE(keyBytes.length, 4);
    header.writeUInt32LE(original.length, 8);
    header.writeUInt32LE(info.length, 12);
    if (writeAtomically(this.entryPath(original, key), Buffer.concat([header, keyBytes, original, info, variant.bytes]))) keepNewest(this.dir, MAX_ENTRIES);
  }

  /** Whether the directory can be trusted (creating it when `create`); decided once per store. */
  private trusted(create: boolean): boolean {
    if (this.usable !== undefined) return this.usable;
    const usable = privateDirectory(this.dir, create);
    // Missing and not to be created yet: ask again when there is something to write.
    if (usable || create) this.usable = usable;
    return usable;
  }

  private entryPath(original: Uint8Array, key: string): string {
    return join(this.dir, `${original.length.toString(36)}-${fingerprint(original, 16)}-${fingerprint(Buffer.from(key), 1)}.bin`);
  }
}

function entryKey(options: InstrumentOptions): string {
  return `${JSON.stringify(options, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}|${rewriterIdentity()}`;
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
