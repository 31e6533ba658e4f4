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

/**
 * Settles with `promise`, or rejects with the error `check` throws once the call's deadline has passed.
 * `check` decides (it throws the deadline's Timeout); a timer that fires a little early just waits on.
 */
export function withDeadline<T>(promise: Promise<T>, remainingMs: () => number, check: () => void): Promise<T> {
  const first = remainingMs();
  if (first === Infinity) return promise;
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout>;
    const arm = (ms: number) => {
      timer = setTimeout(() => {
        try {
          check();
        } catch (err) {
          reject(err);
          return;
        }
        arm(Math.max(1, remainingMs()));
      }, ms);
    };
    arm(first);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (err: unknown) => { clearTimeout(timer); reject(err); },
    );
  });
}
