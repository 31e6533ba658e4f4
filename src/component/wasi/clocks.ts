/**
 * wasi:clocks, following the grant's clock policy with the preview1 clocks: `real` reads the host,
 * `virtual` is deterministic, and `none` shows a clock frozen at zero (preview2 clocks cannot report
 * an error). Timers are pollables; waiting on one sleeps in slices bounded by the call's deadline,
 * or, on a virtual clock, just advances it.
 */
import { CLOCKID } from '../../wasi/constants.ts';
import { createClock } from '../../wasi/clocks.ts';
import { guardFunctions, type HostState } from './host-state.ts';
import type { Io } from './io.ts';

export function createClocks(state: HostState, io: Io): Record<string, Record<string, unknown>> {
  const clock = createClock(state.caps.clock);
  const frozen = state.caps.clock === 'none';

  function monotonicNow(): bigint {
    return frozen ? 0n : clock.now(CLOCKID.MONOTONIC);
  }

  function timer(deadline: bigint) {
    if (state.caps.clock === 'virtual') {
      // A virtual clock never moves by itself: waiting advances it to the deadline.
      return new io.Pollable({
        ready: () => monotonicNow() >= deadline,
        waitMs: () => Infinity,
        skip: () => {
          const left = deadline - monotonicNow();
          if (left > 0n) clock.sleep(left, () => state.options.remainingMs(), () => state.interrupt());
          return true;
        },
      });
    }
    // A frozen clock shows zero, but relative waits reveal no time, so they run on the host clock.
    const end = frozen ? process.hrtime.bigint() + deadline : deadline;
    const read = frozen ? () => process.hrtime.bigint() : monotonicNow;
    return new io.Pollable({
      ready: () => read() >= end,
      waitMs: () => Math.max(0, Number(end - read()) / 1e6),
    });
  }

  return {
    'wasi:clocks/monotonic-clock': guardFunctions({
      now: monotonicNow,
      resolution: (): bigint => (frozen ? 1_000_000_000n : clock.resolution(CLOCKID.MONOTONIC)),
      subscribeInstant: (when: bigint) => timer(when),
      subscribeDuration: (ns: bigint) => timer(monotonicNow() + ns),
    }, state),
    'wasi:clocks/wall-clock': guardFunctions({
      now: () => {
        const ns = frozen ? 0n : clock.now(CLOCKID.REALTIME);
        return { seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) };
      },
      resolution: () => {
        const ns = frozen ? 1_000_000_000n : clock.resolution(CLOCKID.REALTIME);
        return { seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) };
      },
    }, state),
  };
}
