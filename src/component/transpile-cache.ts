/**
 * jco transpilation, cached by content hash in memory and on disk: transpiling takes from a fraction
 * of a second (tiny components) to seconds (a 12 MB JS component), while loading cached output takes
 * milliseconds. The disk entry is one file holding jco's glue (already transformed), the core modules
 * and the import list, keyed by the component's hash, the jco version and our glue edits.
 *
 * The cached glue is code the host imports, so the entry is read through PrivateCache (cache-dir.ts:
 * private folders and files only, no symlinks, key and payload hash compared) and the glue is then
 * imported from the bytes that were checked, never from a path that could change after the check.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { cacheMaxBytes, PrivateCache } from '../cache-dir.ts';
import { InvalidModule } from '../errors.ts';
import { GLUE_TRANSFORM_VERSION, transformGlue } from './glue-transform.ts';
import { importOptional, requireOptional } from '../optional-dependency.ts';

/** jco's generated `instantiate`. */
export type GlueInstantiate = (
  getCoreModule: (name: string) => WebAssembly.Module | Promise<WebAssembly.Module>,
  imports: Record<string, unknown>,
  instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance | Promise<WebAssembly.Instance>,
) => Promise<Record<string, unknown>> | Record<string, unknown>;

export interface Transpiled {
  readonly hash: string;
  readonly instantiate: GlueInstantiate;
  /** Where the glue module is imported from (a file in the cache, or a data: URL): other threads import it from there. */
  readonly glueUrl: string;
  /** Core module file name (as jco asks for it) → bytes. */
  readonly coreModules: ReadonlyMap<string, Uint8Array>;
  /** Import keys jco's glue reads from the import object. */
  readonly imports: readonly string[];
}

interface Meta {
  imports: string[];
  /** Core module names with their lengths, in the order their bytes follow the glue. */
  coreModules: Array<[string, number]>;
  glueBytes: number;
}

/** Entries kept; the least recently used beyond this go when a new one is written. */
const MAX_ENTRIES = 64;

function jcoVersion(): string {
  const require = createRequire(import.meta.url);
  const entry = requireOptional(() => require.resolve('@bytecodealliance/jco-transpile'));
  // dist/index.js → the package root.
  return (JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
}

let versionTag: string | undefined;
function cacheVersion(): string {
  versionTag ??= `jco-transpile-${jcoVersion()}-glue${GLUE_TRANSFORM_VERSION}`;
  return versionTag;
}

export function contentHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Counters of a runtime's transpilation cache, as `ComponentRuntime.cacheStats()` returns them. */
export interface CacheStats {
  /** Components transpiled by jco (cache misses). */
  transpiled: number;
  /** Loads served from this process's memory. */
  memoryHits: number;
  /** Loads served from the cache directory. */
  diskHits: number;
}

/** Process-wide, so every runtime shares transpiled output for the same bytes. */
const memory = new Map<string, Promise<Transpiled>>();

export class TranspileCache {
  readonly dir: string | null;
  readonly stats: CacheStats = { transpiled: 0, memoryHits: 0, diskHits: 0 };
  private readonly disk: PrivateCache | undefined;

  /** `dir` null keeps the cache in memory only; on disk it holds at most `maxBytes` (see `cacheMaxBytes`). */
  constructor(dir: string | null, maxBytes?: number) {
    this.dir = dir;
    this.disk = dir === null ? undefined : new PrivateCache(dir, 'transpiled', { maxBytes: cacheMaxBytes(maxBytes), maxEntries: MAX_ENTRIES });
  }

  /** Forgets the in-memory entries of every cache (the disk stays), as a new process would start. */
  static clearMemory(): void {
    memory.clear();
    oldLayoutChecked = false;
  }

  get(bytes: Uint8Array, hash: string): Promise<Transpiled> {
    const key = `${cacheVersion()}/${hash}`;
    const hit = memory.get(key);
    if (hit) {
      this.stats.memoryHits++;
      return hit;
    }
    const entry = this.load(bytes, hash, key);
    memory.set(key, entry);
    entry.catch(() => memory.delete(key));
    return entry;
  }

  private async load(bytes: Uint8Array, hash: string, key: string): Promise<Transpiled> {
    const cached = this.disk?.read(hash, key);
    if (cached !== undefined) {
      const entry = decodeEntry(cached);
      if (entry !== undefined) {
        this.stats.diskHits++;
        return transpiled(hash, entry.glue, entry.coreModules, entry.imports);
      }
    }
    const { transpileBytes } = await importOptional(() => import('@bytecodealliance/jco-transpile'));
    let result: Awaited<ReturnType<typeof transpileBytes>>;
    try {
      result = await transpileBytes(bytes, { name: 'component', instantiation: 'async' });
    } catch (err) {
      throw new InvalidModule(`jco could not transpile the component: ${(err as Error).message ?? String(err)}`, { cause: err });
    }
    this.stats.transpiled++;
    const glue = Buffer.from(transformGlue(new TextDecoder().decode(result.files['component.js'])).source);
    const coreModules = new Map<string, Uint8Array>();
    for (const [name, data] of Object.entries(result.files)) if (name.endsWith('.wasm')) coreModules.set(name, data);
    // A cache that cannot be written only costs a transpile next time.
    if (this.disk?.write(hash, key, encodeEntry(glue, coreModules, result.imports))) removeOldLayout(this.dir!);
    return transpiled(hash, glue, coreModules, result.imports);
  }
}

/** Folders of the layout before `transpiled/` (one directory per jco version, one per component). */
const OLD_LAYOUT = /^jco-transpile-.+-glue\d+$/;
let oldLayoutChecked = false;

/**
 * Removes the cache's folders in the layout it used before, once per process: nothing reads them any
 * more, and no budget covers them. Only folders of that name this user owns; symlinks are not followed.
 */
function removeOldLayout(dir: string): void {
  if (oldLayoutChecked) return;
  oldLayoutChecked = true;
  const uid = process.getuid?.();
  try {
    for (const name of readdirSync(dir)) {
      if (!OLD_LAYOUT.test(name)) continue;
      const st = lstatSync(join(dir, name));
      if (st.isDirectory() && (uid === undefined || st.uid === uid)) rmSync(join(dir, name), { recursive: true, force: true });
    }
  } catch {
    // Best effort: an old folder left behind costs only disk space.
  }
}

async function transpiled(hash: string, glue: Uint8Array, coreModules: ReadonlyMap<string, Uint8Array>, imports: readonly string[]): Promise<Transpiled> {
  const glueUrl = `data:text/javascript;base64,${Buffer.from(glue.buffer, glue.byteOffset, glue.length).toString('base64')}`;
  return { hash, instantiate: await importGlue(glueUrl), glueUrl, coreModules, imports };
}

/** Meta length, meta JSON, glue, then each core module's bytes. Exported for the cache tests. */
export function encodeEntry(glue: Uint8Array, coreModules: ReadonlyMap<string, Uint8Array>, imports: readonly string[]): Uint8Array[] {
  const meta: Meta = { imports: [...imports], coreModules: [...coreModules].map(([name, data]) => [name, data.length]), glueBytes: glue.length };
  const json = Buffer.from(JSON.stringify(meta));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length, 0);
  return [length, json, glue, ...coreModules.values()];
}

export function decodeEntry(data: Buffer): { glue: Uint8Array; coreModules: Map<string, Uint8Array>; imports: string[] } | undefined {
  try {
    const metaEnd = 4 + data.readUInt32LE(0);
    const meta = JSON.parse(data.toString('utf8', 4, metaEnd)) as Meta;
    let off = metaEnd + meta.glueBytes;
    const glue = data.subarray(metaEnd, off);
    const coreModules = new Map<string, Uint8Array>();
    for (const [name, length] of meta.coreModules) {
      coreModules.set(name, new Uint8Array(data.buffer, data.byteOffset + off, length));
      off += length;
    }
    return off === data.length ? { glue, coreModules, imports: meta.imports } : undefined;
  } catch {
    return undefined;
  }
}

export async function importGlue(url: string): Promise<GlueInstantiate> {
  const mod = (await import(url)) as { instantiate?: GlueInstantiate };
  if (typeof mod.instantiate !== 'function') throw new InvalidModule('jco output has no instantiate function');
  return mod.instantiate;
}
