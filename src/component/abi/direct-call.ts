/**
 * Direct calls: an exported function called through our own Canonical ABI lowering and lifting
 * straight into the core function it is lifted from, instead of through jco's per-call bindings
 * (which set up a task, a scope and debug hooks on every call and cost several times the call
 * itself). Only functions whose types the direct path handles are compiled (see `direct` in
 * layout.ts); everything else keeps using jco. Values are jco's representation either way, and the
 * `result` of a top-level result is returned as `{ tag, val }` exactly as the jco path reports it.
 */
import type { CanonOptions, CoreItem, Func } from '../wit/decode-component.ts';
import { GuestMemory, type Realloc } from './guest-memory.ts';
import { alignment, direct, flatten, MAX_FLAT_PARAMS, MAX_FLAT_RESULTS, size } from './layout.ts';
import { compileLiftFlat, compileLoad } from './lift.ts';
import { compileLower, compileStore } from './lower.ts';

/** Finds the live value (function, memory) a core item of the component refers to. */
export type CoreResolver = (item: CoreItem) => unknown;

export type DirectCall = (args: readonly unknown[]) => unknown;

function usable(options: CanonOptions): boolean {
  return !options.async && options.encoding === 'utf8';
}

/** A direct caller for `func`, or undefined when it must go through jco. */
export function compileDirectCall(func: Func, resolve: CoreResolver): DirectCall | undefined {
  const lift = func.lift;
  if (!lift || !usable(lift.options) || func.type.async) return undefined;
  const { params, result } = func.type;
  if (!params.every((p) => direct(p.type)) || (result && !direct(result))) return undefined;
  const core = resolve(lift.core);
  if (typeof core !== 'function') return undefined;
  const memory = lift.options.memory ? resolve(lift.options.memory) : undefined;
  const realloc = lift.options.realloc ? resolve(lift.options.realloc) : undefined;
  const postReturn = lift.options.postReturn ? resolve(lift.options.postReturn) : undefined;
  if (memory !== undefined && !(memory instanceof WebAssembly.Memory)) return undefined;
  if ((realloc !== undefined && typeof realloc !== 'function') || (postReturn !== undefined && typeof postReturn !== 'function')) return undefined;
  const flatParams = params.flatMap((p) => flatten(p.type));
  const flatResults = result ? flatten(result) : [];
  const spillParams = flatParams.length > MAX_FLAT_PARAMS;
  const spillResult = flatResults.length > MAX_FLAT_RESULTS;
  if ((spillParams || spillResult) && !memory) return undefined;
  const m = memory ? new GuestMemory(memory, realloc as Realloc | undefined) : (undefined as unknown as GuestMemory);
  const fn = core as (...a: unknown[]) => unknown;
  const post = postReturn as ((...a: unknown[]) => void) | undefined;

  let lowerArgs: (args: readonly unknown[]) => unknown[];
  if (spillParams) {
    const tuple = { kind: 'tuple' as const, types: params.map((p) => p.type) };
    const store = compileStore(tuple);
    const tupleSize = size(tuple);
    const tupleAlign = alignment(tuple);
    lowerArgs = (args) => {
      const ptr = m.alloc(tupleAlign, tupleSize);
      store(args, ptr, m);
      return [ptr];
    };
  } else {
    const lowers = params.map((p) => compileLower(p.type));
    lowerArgs = (args) => {
      const out: unknown[] = [];
      for (let i = 0; i < lowers.length; i++) lowers[i](args[i], out, m);
      return out;
    };
  }

  let liftResult: (raw: unknown) => unknown;
  if (!result) {
    liftResult = () => undefined;
  } else if (spillResult) {
    const load = compileLoad(result);
    const resultSize = size(result);
    const resultAlign = alignment(result);
    liftResult = (raw) => {
      const ptr = (raw as number) >>> 0;
      m.check(ptr, resultSize, resultAlign);
      return load(ptr, m);
    };
  } else {
    const liftFlat = compileLiftFlat(result);
    liftResult = (raw) => liftFlat([raw], { i: 0 }, m);
  }

  // Small arities are called without spreading, which is measurable at this scale.
  const arity = spillParams ? 1 : flatParams.length;
  const call: (flat: unknown[]) => unknown =
    arity === 0 ? () => fn() : arity === 1 ? (f) => fn(f[0]) : arity === 2 ? (f) => fn(f[0], f[1]) : (f) => fn(...f);

  return (args) => {
    const raw = call(lowerArgs(args));
    const value = liftResult(raw);
    if (post) {
      if (flatResults.length === 0) post();
      else post(raw);
    }
    return value;
  };
}
