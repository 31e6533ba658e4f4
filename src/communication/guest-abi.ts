/**
 * The names and rules of the structured-call ABI (docs/guest-abi.md), and which exports of a module
 * are data functions. A data function is recognised only by an explicit marker: a `wsdata:` export in
 * a module that declares the ABI version, or an export of a module written against Extism's host ABI.
 * A signature alone never makes a function a data function.
 */
import type { FuncSignature, ModuleInfo } from '../module/module-info.ts';

export const ABI_VERSION = 1;
export const DATA_PREFIX = 'wsdata:';
/** Declares ABI v1; any export kind will do (a no-op function is the easy one in every language). */
export const ABI_MARKER = `${DATA_PREFIX}abi_v${ABI_VERSION}`;
export const ALLOC_EXPORT = `${DATA_PREFIX}alloc`;
export const FREE_EXPORT = `${DATA_PREFIX}free`;
/** Set in the high bit of a result's length word: the payload is an error report, not a result. */
export const ERROR_FLAG = 0x8000_0000;
export const MAX_RESULT_LENGTH = 0x7fff_ffff;

export const EXTISM_MODULE = 'extism:host/env';
/** Exports an Extism host never calls as plugin functions (WASI entry points). */
const EXTISM_NOT_PLUGIN_FUNCTIONS = new Set(['_start', '_initialize']);

/**
 * Which structured-call ABI a data function speaks: `wsdata` (this project's, docs/guest-abi.md) or `extism`
 * (Extism's plugin ABI).
 */
export type DataFunctionKind = 'wsdata' | 'extism';

/** A structured-call function an instance offers (`listDataFunctions`). */
export interface DataFunction {
  /** The name callers use: `add` for `wsdata:add`, the export name itself for Extism. */
  readonly name: string;
  /** The wasm export that implements it, e.g. `wsdata:add`. */
  readonly exportName: string;
  /** Which ABI it speaks. */
  readonly kind: DataFunctionKind;
  /** Why the function cannot be called, when the module declares it but breaks the ABI's shape. */
  readonly defect?: string;
}

function sameSignature(sig: FuncSignature | undefined, params: string[], results: string[]): boolean {
  return !!sig && sig.params.length === params.length && sig.results.length === results.length
    && sig.params.every((p, i) => p === params[i]) && sig.results.every((r, i) => r === results[i]);
}

function describe(sig: FuncSignature | undefined): string {
  return sig ? `(${sig.params.join(', ')}) -> (${sig.results.join(', ')})` : 'no function signature';
}

/** What is wrong with the module as a whole, for every wsdata function; undefined when it is fit. */
function wsdataModuleDefect(info: ModuleInfo): string | undefined {
  const byName = new Map(info.exports.map((e) => [e.name, e]));
  const versions = info.exports.map((e) => /^wsdata:abi_v(\d+)$/.exec(e.name)?.[1]).filter((v): v is string => v !== undefined);
  if (!versions.includes(String(ABI_VERSION))) {
    return versions.length
      ? `the module speaks guest ABI v${versions.join(', v')}; this host speaks v${ABI_VERSION}`
      : `the module exports ${DATA_PREFIX} functions but no '${ABI_MARKER}' marker declaring the ABI version`;
  }
  const memory = byName.get('memory');
  if (!memory || memory.kind !== 'memory') return "the module exports no memory named 'memory'";
  const alloc = byName.get(ALLOC_EXPORT);
  if (!alloc || alloc.kind !== 'function' || !sameSignature(alloc.signature, ['i32'], ['i32'])) {
    return `'${ALLOC_EXPORT}' must be an exported function (i32) -> (i32), found ${alloc ? describe(alloc.signature) : 'none'}`;
  }
  const free = byName.get(FREE_EXPORT);
  if (!free || free.kind !== 'function' || !sameSignature(free.signature, ['i32', 'i32'], [])) {
    return `'${FREE_EXPORT}' must be an exported function (i32, i32) -> (), found ${free ? describe(free.signature) : 'none'}`;
  }
  return undefined;
}

function isReserved(exportName: string): boolean {
  return exportName === ALLOC_EXPORT || exportName === FREE_EXPORT || /^wsdata:abi_v\d+$/.test(exportName);
}

/**
 * The data functions of a module, by the name callers use. Functions whose declaration is broken
 * (wrong signature, missing allocator, unknown ABI version) are listed with a `defect`, so that a call
 * fails with an AbiViolation that says why instead of a "not found".
 */
export function dataFunctions(info: ModuleInfo): Map<string, DataFunction> {
  const out = new Map<string, DataFunction>();
  if (info.kind !== 'core') return out;
  const declared = info.exports.filter((e) => e.name.startsWith(DATA_PREFIX) && !isReserved(e.name));
  if (declared.length) {
    const moduleDefect = wsdataModuleDefect(info);
    for (const e of declared) {
      const name = e.name.slice(DATA_PREFIX.length);
      let defect = moduleDefect;
      if (!defect && (e.kind !== 'function' || !sameSignature(e.signature, ['i32', 'i32'], ['i64']))) {
        defect = `a data function must have the signature (i32, i32) -> (i64), found ${e.kind === 'function' ? describe(e.signature) : `a ${e.kind}`}`;
      }
      out.set(name, { name, exportName: e.name, kind: 'wsdata', defect });
    }
  }
  if (info.imports.some((i) => i.module === EXTISM_MODULE)) {
    const hasMemory = info.exports.some((e) => e.kind === 'memory');
    for (const e of info.exports) {
      if (e.kind !== 'function' || EXTISM_NOT_PLUGIN_FUNCTIONS.has(e.name) || e.name.startsWith(DATA_PREFIX)) continue;
      // Extism's own convention: a plugin function takes nothing and returns its status (or nothing).
      if (!sameSignature(e.signature, [], ['i32']) && !sameSignature(e.signature, [], [])) continue;
      out.set(e.name, { name: e.name, exportName: e.name, kind: 'extism', defect: hasMemory ? undefined : 'the plugin exports no memory' });
    }
  }
  return out;
}

/** Splits a data function's i64 result into its pointer, length and error flag (unsigned words). */
export function unpackResult(result: bigint): { ptr: number; len: number; isError: boolean } {
  const ptr = Number(BigInt.asUintN(32, result));
  const high = Number(BigInt.asUintN(32, result >> 32n));
  return { ptr, len: high & MAX_RESULT_LENGTH, isError: (high & ERROR_FLAG) !== 0 };
}
