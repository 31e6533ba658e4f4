/**
 * Binds one data function of a live instance to the code that calls it: the native ABI (wsdata) or
 * Extism's. Runs wherever the instance lives, in-process or inside a worker thread, so both runtimes
 * enforce the same ABI checks on the guest's side of the boundary.
 */
import { AbiViolation, GuestError } from '../errors.ts';
import type { ExtismKernel } from './extism-kernel.ts';
import { ALLOC_EXPORT, FREE_EXPORT, type DataFunction } from './guest-abi.ts';
import { callWsdata, callWsdataAsync, type WsdataGuest } from './wsdata-call.ts';

export interface DataInvoker {
  readonly name: string;
  /** Calls straight through; the export must not suspend. */
  sync(input: Uint8Array): Uint8Array;
  /** Calls through a promising wrapper, for instances that link async host functions. */
  async(input: Uint8Array): Promise<Uint8Array>;
}

export interface InvokerContext {
  readonly exports: WebAssembly.Exports;
  readonly kernel: ExtismKernel | undefined;
  readonly maxPayloadBytes: number | null;
  /** Wraps an export so that it may suspend (WebAssembly.promising). */
  readonly promising: (fn: Function) => (...args: unknown[]) => Promise<unknown>;
}

export function dataInvoker(fn: DataFunction, ctx: InvokerContext): DataInvoker {
  const { name } = fn;
  if (fn.defect) {
    const fail = (): never => {
      throw new AbiViolation(name, fn.defect!);
    };
    return { name, sync: fail, async: async () => fail() };
  }
  const target = ctx.exports[fn.exportName];
  if (typeof target !== 'function') throw new AbiViolation(name, `export '${fn.exportName}' is not a function`);
  if (fn.kind === 'wsdata') {
    const memory = ctx.exports.memory as WebAssembly.Memory;
    const guest: WsdataGuest = {
      memory,
      alloc: ctx.exports[ALLOC_EXPORT] as (size: number) => number,
      free: ctx.exports[FREE_EXPORT] as (ptr: number, size: number) => void,
      maxPayloadBytes: ctx.maxPayloadBytes,
    };
    const call = target as (ptr: number, len: number) => unknown;
    let suspending: ((ptr: number, len: number) => Promise<unknown>) | undefined;
    return {
      name,
      sync: (input) => callWsdata(guest, name, call, input),
      async: (input) => callWsdataAsync(guest, name, (suspending ??= ctx.promising(call) as (ptr: number, len: number) => Promise<unknown>), input),
    };
  }
  const kernel = ctx.kernel;
  if (!kernel) throw new AbiViolation(name, 'the module imports no Extism host functions');
  const call = target as () => unknown;
  let suspending: (() => Promise<unknown>) | undefined;
  const settle = (status: unknown): Uint8Array => {
    const outcome = kernel.finish(status);
    if ('error' in outcome) throw new GuestError(name, outcome.error);
    return outcome.output;
  };
  return {
    name,
    sync: (input) => {
      kernel.begin(name, input);
      let status: unknown;
      try {
        status = call();
      } catch (err) {
        kernel.clear();
        throw err;
      }
      return settle(status);
    },
    async: async (input) => {
      kernel.begin(name, input);
      let status: unknown;
      try {
        status = await (suspending ??= ctx.promising(call) as () => Promise<unknown>)();
      } catch (err) {
        kernel.clear();
        throw err;
      }
      return settle(status);
    },
  };
}
