/**
 * Milliseconds on a monotonic clock. The same clock as `performance.now()` without its price: the
 * first touch of the `performance` global loads node:perf_hooks, over half a millisecond of every
 * `wasm-sandbox run`, while hrtime is always loaded.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
