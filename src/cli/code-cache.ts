/**
 * Loads a bundled command (CommonJS) with a V8 code cache made after the command ran. Node's own
 * compile cache is made when a module is compiled, before it runs, so it holds only the top level:
 * every function a `wasm-sandbox run` calls is still parsed and compiled on each start, about 5 ms of
 * a ~35 ms run. A cache created after execution holds those functions too (V8's "create the cache
 * after execution"; v8-compile-cache does the same for CommonJS).
 *
 * V8 checks a cache against its own version, its flags and the source's length only, so the entry is
 * also keyed by the bundle's size, modification time and inode and by Node's version: a rebuilt CLI
 * never runs an old cache. V8 would run bytecode made for any source of the same length, so the
 * cache is code the host runs: it is read through PrivateCache (cache-dir.ts, private folders and
 * files only, no symlinks, key and hash compared) or not at all.
 */
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { constants, Script } from 'node:vm';
import { cacheMaxBytes, fingerprint, PrivateCache } from '../cache-dir.ts';

/** One entry per build of the CLI; a few builds side by side are plenty. */
const MAX_ENTRIES = 4;

type Exports = Record<string, unknown>;

/** `file`'s exports; the cache is read from and written to `cacheDir/v8` unless `cacheDir` is undefined. */
export function loadWithCodeCache(file: string, cacheDir: string | undefined): Exports {
  const source = readFileSync(file, 'utf8');
  const st = statSync(file);
  const identity = `${process.version}|${process.arch}|${st.size}|${st.mtimeMs}|${st.ino}|${file}`;
  const cache = cacheDir === undefined ? undefined : new PrivateCache(cacheDir, 'v8', { maxBytes: cacheMaxBytes(), maxEntries: MAX_ENTRIES });
  const name = fingerprint(Buffer.from(identity), 1);
  const cachedData = cache?.read(name, identity);
  // The same wrapper as Node's CommonJS loader, on one line so stack traces keep their positions.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  quietDefaultLoaderWarning();
  const module = { exports: {} as Exports };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dirname(file));
  if (cache !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
    // At exit the functions the command ran are compiled, and so go into the cache.
    process.once('exit', () => cache.write(name, identity, [script.createCachedData()]));
  }
  return module.exports;
}

/**
 * Node warns ("vm.USE_MAIN_CONTEXT_DEFAULT_LOADER is an experimental feature") on stderr the first
 * time such a script runs import(), as `run` does for a component's glue. The loader is this file's
 * choice, not the user's, and a function in its place needs --experimental-vm-modules; only that one
 * warning is dropped.
 */
function quietDefaultLoaderWarning(): void {
  const emit = process.emitWarning;
  process.emitWarning = function (warning: string | Error, ...rest: unknown[]) {
    if (typeof warning === 'string' && warning.startsWith('vm.USE_MAIN_CONTEXT_DEFAULT_LOADER')) return;
    return (emit as (w: string | Error, ...r: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
}
