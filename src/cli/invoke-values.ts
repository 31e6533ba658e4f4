/**
 * `run --invoke FUNC ARGS...`: command-line words to the export's parameter values, and its results
 * back to lines of text, as wasmtime prints them (one value a line; i64 in full, as a bigint).
 */
import { FunctionNotFound } from '../errors.ts';
import type { FuncSignature, ModuleInfo, ValType } from '../module/module-info.ts';
import type { WasmResult, WasmValue } from '../runtime/types.ts';
import { UsageError } from './args.ts';

const INTEGER = /^[-+]?(?:0x[0-9a-f]+|\d+)$/i;

function integer(word: string): bigint | undefined {
  if (!INTEGER.test(word)) return undefined;
  const negative = word.startsWith('-');
  const magnitude = BigInt(word.replace(/^[-+]/, ''));
  return negative ? -magnitude : magnitude;
}

function float(word: string): number | undefined {
  const w = word.toLowerCase();
  if (w === 'nan' || w === '+nan' || w === '-nan') return NaN;
  if (w === 'inf' || w === '+inf' || w === 'infinity') return Infinity;
  if (w === '-inf' || w === '-infinity') return -Infinity;
  if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?$/.test(w) && !INTEGER.test(w)) return undefined;
  return Number(w);
}

/** One word as a value of `type`; integers may be written signed or unsigned (`-1` and `4294967295` are the same i32). */
function value(word: string, type: ValType): WasmValue | undefined {
  switch (type) {
    case 'i32': {
      const v = integer(word);
      return v !== undefined && v >= -(2n ** 31n) && v < 2n ** 32n ? Number(BigInt.asIntN(32, v)) : undefined;
    }
    case 'i64': {
      const v = integer(word);
      return v !== undefined && v >= -(2n ** 63n) && v < 2n ** 64n ? BigInt.asIntN(64, v) : undefined;
    }
    case 'f32':
    case 'f64':
      return float(word);
    default:
      return undefined;
  }
}

/** The export's signature, or FunctionNotFound naming the functions there are. */
export function invokedSignature(info: ModuleInfo, name: string): FuncSignature {
  const exp = info.exports.find((e) => e.name === name && e.kind === 'function');
  if (!exp?.signature) throw new FunctionNotFound(name, info.exports.filter((e) => e.kind === 'function').map((e) => e.name));
  return exp.signature;
}

export function parseInvokeArgs(name: string, sig: FuncSignature, words: readonly string[]): WasmValue[] {
  const shape = `${name}(${sig.params.join(', ')})`;
  if (words.length !== sig.params.length) {
    throw new UsageError(`--invoke ${shape} takes ${sig.params.length} argument${sig.params.length === 1 ? '' : 's'}, got ${words.length}`);
  }
  return words.map((word, i) => {
    const type = sig.params[i];
    if (!['i32', 'i64', 'f32', 'f64'].includes(type)) throw new UsageError(`--invoke ${shape}: parameter ${i + 1} is ${type}, which cannot be given on the command line`);
    const v = value(word, type);
    if (v === undefined) throw new UsageError(`--invoke ${shape}: argument ${i + 1} '${word}' is not ${type === 'i32' || type === 'i64' ? 'an' : 'a'} ${type}`);
    return v;
  });
}

function show(v: WasmValue): string {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return v === null ? 'null' : `<${typeof v === 'function' ? 'funcref' : 'externref'}>`;
}

/** The results as printed, one per line (none for a function without results). */
export function formatResults(sig: FuncSignature, result: WasmResult): string[] {
  if (sig.results.length === 0) return [];
  const values = sig.results.length === 1 ? [result as WasmValue] : (result as WasmValue[]);
  return values.map(show);
}
