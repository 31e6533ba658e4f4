/**
 * jco transpilation, cached by content hash in memory and on disk: transpiling takes from a fraction
 * of a second (tiny components) to seconds (a 12 MB JS component), while loading cached output takes
 * milliseconds. The disk entry holds jco's glue (already transformed), the core modules and the
 * import list; it is written to a temporary directory and renamed into place, so a crash never
 * leaves a half-written entry. The key covers the jco version and our glue edits.
 *
 * The cached glue is code the host imports: the cache directory must be writable only by the user
 * running the host (it is created with mode 0700).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
  coreModules: string[];
}

// Built-ins are taken when first used: this module loads with the library, most users never transpile.
const fs = () => process.getBuiltinModule('node:fs/promises');

const GLUE_FILE = 'component.mjs';
const META_FILE = 'meta.json';

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
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(bytes).digest('hex');
}

export interface CacheStats {
  /** Components transpiled by jco (cache misses). */
  transpiled: number;
  memoryHits: number;
  diskHits: number;
}

/** Process-wide, so every runtime shares transpiled output for the same bytes. */
const memory = new Map<string, Promise<Transpiled>>();

export class TranspileCache {
  readonly dir: string | null;
  readonly stats: CacheStats = { transpiled: 0, memoryHits: 0, diskHits: 0 };

  /** `dir` null keeps the cache in memory only. */
  constructor(dir: string | null) {
    this.dir = dir;
  }

  /** Forgets the in-memory entries of every cache (the disk stays), as a new process would start. */
  static clearMemory(): void {
    memory.clear();
  }

  get(bytes: Uint8Array, hash: string): Promise<Transpiled> {
    const key = `${cacheVersion()}/${hash}`;
    const hit = memory.get(key);
    if (hit) {
      this.stats.memoryHits++;
      return hit;
    }
    const entry = this.load(bytes, hash);
    memory.set(key, entry);
    entry.catch(() => memory.delete(key));
    return entry;
  }

  private entryDir(hash: string): string | null {
    return this.dir === null ? null : join(this.dir, cacheVersion(), hash);
  }

  private async load(bytes: Uint8Array, hash: string): Promise<Transpiled> {
    const dir = this.entryDir(hash);
    if (dir !== null) {
      const cached = await this.readEntry(dir, hash);
      if (cached) {
        this.stats.diskHits++;
        return cached;
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
    const glue = transformGlue(new TextDecoder().decode(result.files['component.js'])).source;
    const coreModules = new Map<string, Uint8Array>();
    for (const [name, data] of Object.entries(result.files)) if (name.endsWith('.wasm')) coreModules.set(name, data);
    const meta: Meta = { imports: result.imports, coreModules: [...coreModules.keys()] };
    if (dir !== null) {
      await this.writeEntry(dir, glue, coreModules, meta).catch(() => {
        // A cache that cannot be written only costs a transpile next time.
      });
      const written = await this.readEntry(dir, hash);
      if (written) return written;
    }
    const glueUrl = `data:text/javascript;base64,${Buffer.from(glue).toString('base64')}`;
    return { hash, instantiate: await importGlue(glueUrl), glueUrl, coreModules, imports: meta.imports };
  }

  private async readEntry(dir: string, hash: string): Promise<Transpiled | undefined> {
    let meta: Meta;
    try {
      meta = JSON.parse(await fs().readFile(join(dir, META_FILE), 'utf8')) as Meta;
    } catch {
      return undefined;
    }
    const coreModules = new Map<string, Uint8Array>();
    try {
      for (const name of meta.coreModules) coreModules.set(name, new Uint8Array(await fs().readFile(join(dir, name))));
    } catch {
      return undefined;
    }
    const glueUrl = pathToFileURL(join(dir, GLUE_FILE)).href;
    return { hash, instantiate: await importGlue(glueUrl), glueUrl, coreModules, imports: meta.imports };
  }

  private async writeEntry(dir: string, glue: string, coreModules: ReadonlyMap<string, Uint8Array>, meta: Meta): Promise<void> {
    const parent = dirname(dir);
    await fs().mkdir(parent, { recursive: true, mode: 0o700 });
    const tmp = join(parent, `.tmp-${process.getBuiltinModule('node:crypto').randomUUID()}`);
    await fs().mkdir(tmp, { mode: 0o700 });
    try {
      await fs().writeFile(join(tmp, GLUE_FILE), glue, { mode: 0o600 });
      for (const [name, data] of coreModules) await fs().writeFile(join(tmp, name), data, { mode: 0o600 });
      // meta.json last: its presence marks a complete entry.
      await fs().writeFile(join(tmp, META_FILE), JSON.stringify(meta), { mode: 0o600 });
      await fs().rename(tmp, dir);
    } catch (err) {
      await fs().rm(tmp, { recursive: true, force: true });
      // Another process may have written the same entry first; that one is as good as ours.
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export async function importGlue(url: string): Promise<GlueInstantiate> {
  const mod = (await import(url)) as { instantiate?: GlueInstantiate };
  if (typeof mod.instantiate !== 'function') throw new InvalidModule('jco output has no instantiate function');
  return mod.instantiate;
}
