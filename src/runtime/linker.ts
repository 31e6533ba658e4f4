import { isAsyncHostFunction, withDeadline } from '../communication/async-host-function.ts';
import { InvalidArguments, MissingImports, Trap, type MissingImport } from '../errors.ts';
import { requireHostFunction } from '../host/grants.ts';
import type { ModuleInfo } from '../module/module-info.ts';
import type { HostContext } from './host-context.ts';
import type { ResolvedInstanceConfig } from './types.ts';


export interface LinkCounters {
  hostFunctionCalls: number;
}

/**
 * How async host functions are bounded: the call's remaining time, and the check that throws its
 * Timeout; and how the guest's CPU accounting is paused while it is suspended in one.
 */
export interface LinkDeadline {
  remainingMs(): number;
  check(): void;
  suspend(): void;
  resume(): void;
}

/** Whether the config links a host function declared async: its exports must then run under JSPI. */
export function linksAsyncHostFunctions(info: ModuleInfo, config: ResolvedInstanceConfig): boolean {
  return info.imports.some((imp) => imp.kind === 'function' && isAsyncHostFunction(config.hostFunctions[imp.module]?.[imp.name]));
}

function isThenable(value: unknown): boolean {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

const EXTERN_CLASS = {
  memory: WebAssembly.Memory,
  table: WebAssembly.Table,
  global: WebAssembly.Global,
} as const;

/**
 * Builds the import object for one instance, or fails with every missing import listed at once.
 * Host functions are linked only when the capabilities allow them, so an embedder's registry of host
 * functions never widens what a given policy grants. `system` holds import modules the sandbox
 * provides itself (WASI, instrumentation), already capability-checked.
 */
export function linkImports(
  info: ModuleInfo,
  config: ResolvedInstanceConfig,
  ctx: HostContext,
  counters: LinkCounters,
  system: Record<string, Record<string, unknown>> = {},
  deadline?: LinkDeadline,
): WebAssembly.Imports {
  const imports: Record<string, Record<string, unknown>> = {};
  const missing: MissingImport[] = [];
  for (const imp of info.imports) {
    const target = (imports[imp.module] ??= {});
    const provided = system[imp.module];
    if (provided) {
      const value = provided[imp.name];
      if (value === undefined) missing.push({ module: imp.module, name: imp.name, kind: imp.kind });
      else target[imp.name] = value;
      continue;
    }
    if (imp.kind === 'function') {
      const fn = config.hostFunctions[imp.module]?.[imp.name];
      if (typeof fn !== 'function') {
        missing.push({ module: imp.module, name: imp.name, kind: 'function' });
        continue;
      }
      requireHostFunction(config.capabilities, imp.module, imp.name);
      if (isAsyncHostFunction(fn)) {
        target[imp.name] = suspendingImport(imp.module, imp.name, async (...args: unknown[]) => {
          counters.hostFunctionCalls++;
          deadline?.suspend();
          try {
            const result = Promise.resolve(fn(ctx, ...args));
            return await (deadline ? withDeadline(result, () => deadline.remainingMs(), () => deadline.check()) : result);
          } finally {
            deadline?.resume();
          }
        });
        continue;
      }
      target[imp.name] = syncImport(`${imp.module}.${imp.name}`, fn as HostFn, ctx, counters, imp.signature?.params.length);
      continue;
    }
    const value = config.imports[imp.module]?.[imp.name];
    const cls = imp.kind === 'tag' ? undefined : EXTERN_CLASS[imp.kind];
    if (!cls || !(value instanceof cls)) {
      missing.push({ module: imp.module, name: imp.name, kind: imp.kind });
      continue;
    }
    target[imp.name] = value;
  }
  if (missing.length) throw new MissingImports(missing);
  return imports as WebAssembly.Imports;
}

type HostFn = (ctx: HostContext, ...args: unknown[]) => unknown;

/**
 * A synchronous host function as the guest calls it, counted and refused if it returns a promise.
 * Exact-arity wrappers for the usual counts: rest parameters and a spread cost more than the call.
 */
function syncImport(qualified: string, fn: HostFn, ctx: HostContext, counters: LinkCounters, arity: number | undefined): unknown {
  const settle = (result: unknown): unknown => {
    // A promise would reach the guest as a number (0 or NaN); say what to do instead.
    if (isThenable(result)) {
      throw new Trap('host-error', `host function '${qualified}' returned a promise but is linked as synchronous; declare it \`async\` or wrap it with asyncHostFunction()`);
    }
    return result;
  };
  type A = unknown;
  switch (arity) {
    case 0: return () => { counters.hostFunctionCalls++; return settle(fn(ctx)); };
    case 1: return (a: A) => { counters.hostFunctionCalls++; return settle(fn(ctx, a)); };
    case 2: return (a: A, b: A) => { counters.hostFunctionCalls++; return settle(fn(ctx, a, b)); };
    case 3: return (a: A, b: A, c: A) => { counters.hostFunctionCalls++; return settle(fn(ctx, a, b, c)); };
    case 4: return (a: A, b: A, c: A, d: A) => { counters.hostFunctionCalls++; return settle(fn(ctx, a, b, c, d)); };
    default: return (...args: A[]) => { counters.hostFunctionCalls++; return settle(fn(ctx, ...args)); };
  }
}

/** An import the guest may suspend in while its promise settles (JSPI). */
function suspendingImport(module: string, name: string, fn: (...args: unknown[]) => Promise<unknown>): unknown {
  const Suspending = (WebAssembly as unknown as { Suspending?: new (f: Function) => unknown }).Suspending;
  if (typeof Suspending !== 'function') {
    throw new InvalidArguments(`host function '${module}.${name}' is async, which needs JavaScript Promise Integration (Node 24 or later); use a synchronous function or the worker runtime`);
  }
  return new Suspending(fn);
}
