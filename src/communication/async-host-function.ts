/**
 * Which host functions are asynchronous. The engine must know before instantiation (an import that may
 * suspend is linked differently), so it cannot wait to see a promise: a function declared `async` is
 * recognised by its constructor, and any other function returning a promise is marked with
 * `asyncHostFunction(fn)`.
 */
import type { HostFunction } from '../runtime/types.ts';

const MARK: unique symbol = Symbol.for('wasm-sandbox.asyncHostFunction');
const AsyncFunction = (async () => {}).constructor;

/** Marks a host function that returns a promise; the guest waits for it without blocking the host. */
export function asyncHostFunction<F extends HostFunction>(fn: F): F {
  if (typeof fn !== 'function') throw new TypeError('asyncHostFunction expects a function');
  Object.defineProperty(fn, MARK, { value: true });
  return fn;
}

export function isAsyncHostFunction(fn: unknown): boolean {
  return typeof fn === 'function' && (fn instanceof AsyncFunction || (fn as { [MARK]?: boolean })[MARK] === true);
}
