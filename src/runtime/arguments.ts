import { InvalidArguments } from '../errors.ts';
import type { FuncSignature } from '../module/module-info.ts';
import type { WasmValue } from './types.ts';

const I64_MIN = -(2n ** 63n);
const U64_MAX = 2n ** 64n - 1n;

/** Human-readable expectation for each parameter type, used in error messages. */
function expectation(type: string): string {
  switch (type) {
    case 'i32': return 'i32 (an integer number from -2^31 to 2^32-1)';
    case 'i64': return 'i64 (a bigint, or a safe-integer number)';
    case 'f32': case 'f64': return `${type} (a number)`;
    case 'v128': return 'v128 (not callable from JavaScript)';
    default: return `${type} (a reference or null)`;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return typeof value;
}

/** Converts one argument to what V8 expects, or throws InvalidArguments naming the parameter. */
export function convertArgument(type: string, value: unknown, index: number, fn: string): WasmValue {
  const fail = (): never => {
    throw new InvalidArguments(`argument ${index} of '${fn}': expected ${expectation(type)}, got ${describe(value)}`, { parameter: index, expected: type });
  };
  switch (type) {
    case 'i32':
      if (typeof value !== 'number' || ((value | 0) !== value && value >>> 0 !== value)) fail();
      return value as number;
    case 'i64':
      if (typeof value === 'bigint') return value >= I64_MIN && value <= U64_MAX ? value : fail();
      if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
      return fail();
    case 'f32':
    case 'f64':
      if (typeof value !== 'number') fail();
      return value as number;
    case 'v128':
      return fail();
    default:
      if (value === undefined || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'symbol') fail();
      return value as WasmValue;
  }
}

/**
 * Builds a checker specialised to one signature. The all-numeric case (the hot one) is a closure over a
 * fixed arity with no allocation when arguments are already in the right form.
 */
export function argumentChecker(fn: string, sig: FuncSignature): (args: readonly unknown[]) => WasmValue[] {
  const params = sig.params;
  const n = params.length;
  const arity = (args: readonly unknown[]) => arityError(fn, params, args.length);
  const simple = params.every((p) => p === 'i32' || p === 'f32' || p === 'f64');
  if (simple) {
    const isI32 = params.map((p) => p === 'i32');
    return (args) => {
      if (args.length !== n) throw arity(args);
      for (let i = 0; i < n; i++) {
        const v = args[i];
        if (typeof v !== 'number' || (isI32[i] && (v | 0) !== v && v >>> 0 !== v)) convertArgument(params[i], v, i, fn);
      }
      return args as WasmValue[];
    };
  }
  return (args) => {
    if (args.length !== n) throw arity(args);
    const out = new Array<WasmValue>(n);
    for (let i = 0; i < n; i++) out[i] = convertArgument(params[i], args[i], i, fn);
    return out;
  };
}

/** Parameter types whose check can be inlined into generated code. */
const INLINE_CHECK: Record<string, (v: string) => string> = {
  i32: (v) => `(typeof ${v} !== 'number' || ((${v} | 0) !== ${v} && ${v} >>> 0 !== ${v}))`,
  f32: (v) => `typeof ${v} !== 'number'`,
  f64: (v) => `typeof ${v} !== 'number'`,
};

/** Brackets each outermost guest call, for deadlines and CPU accounting. */
export interface CallMeter {
  enter(): void;
  exit(): void;
}

export interface CallGuard {
  /** False once the instance may no longer be called. */
  ready: boolean;
  /** Throws the reason the instance may not be called (destroyed, stopped). */
  enter(): void;
  /** Turns a failure into the typed error to throw. */
  fail(err: unknown): Error;
  calls: number;
}

/** False once the host refuses code generation from strings (`node --disallow-code-generation-from-strings`). */
let codeGeneration = true;

/**
 * Builds the call handle for a numeric signature as straight-line code with a fixed arity, so that a call
 * costs a few type checks over the raw export call (rest parameters and spreads cost more than the call
 * itself). The generated source contains only fixed tokens chosen from the signature, never input text.
 * Returns undefined for signatures that need conversion (i64, references), and where the host forbids
 * code generation: the caller's generic closure then makes the same checks (a few nanoseconds slower).
 */
export function compiledHandle(fn: string, sig: FuncSignature, target: Function, guard: CallGuard, meter?: CallMeter): ((...args: WasmValue[]) => unknown) | undefined {
  const params = sig.params;
  if (params.length > 8 || !params.every((p) => p in INLINE_CHECK)) return undefined;
  if (!codeGeneration) return undefined;
  try {
    return generatedHandle(fn, params, target, guard, meter);
  } catch (err) {
    if (!(err instanceof EvalError)) throw err;
    codeGeneration = false;
    return undefined;
  }
}

function arityError(fn: string, params: readonly string[], got: number): InvalidArguments {
  return new InvalidArguments(`'${fn}' takes ${params.length} argument${params.length === 1 ? '' : 's'} (${params.join(', ') || 'none'}), got ${got}`, { expected: `(${params.join(', ')})` });
}

function generatedHandle(fn: string, params: readonly string[], target: Function, guard: CallGuard, meter?: CallMeter): (...args: WasmValue[]) => unknown {
  const names = params.map((_, i) => `a${i}`);
  const checks = params.map((p, i) => `  if (${INLINE_CHECK[p](names[i])}) convert(${JSON.stringify(p)}, ${names[i]}, ${i}, name);`).join('\n');
  const source = `return function (${names.join(', ')}) {
  if (arguments.length !== ${params.length}) arity(arguments.length);
  if (!guard.ready) guard.enter();
${checks}
  guard.calls++;
  try {
${meter ? '    meter.enter();\n' : ''}    return target(${names.join(', ')});
  } catch (err) {
    throw guard.fail(err);
  }${meter ? ' finally {\n    meter.exit();\n  }' : ''}
};`;
  const arity = (got: number) => {
    throw arityError(fn, params, got);
  };
  return new Function('target', 'guard', 'meter', 'convert', 'arity', 'name', source)(target, guard, meter, convertArgument, arity, fn);
}
