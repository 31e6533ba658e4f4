/**
 * wasi:clocks over the core clock (`src/host/clock.ts`), the one preview1 uses: `real` reads the
 * host, `virtual` is deterministic, and under `none` every read is refused by the core; preview2
 * clocks have no error case, so that refusal ends the guest (SecurityViolation('clock')). Timers are
 * pollables; waiting on one sleeps in slices bounded by the call's deadline, or, on a virtual clock,
 * just advances it. Relative waits reveal no time, so under `none` they run on the host clock.
 */
import { createHostClock, type ClockKind } from '../../host/clock.ts';
import { guardFunctions, type HostState } from './host-state.ts';
import type { Io } from './io.ts';

export function createClocks(state: HostState, io: Io): Record<string, Record<string, unknown>> {
  const clock = createHostClock(state.caps.clock, state.violations);
  const none = clock.policy === 'none';
  const read = (kind: ClockKind): bigint => state.decide(() => clock.now(kind));
  const resolution = (kind: ClockKind): bigint => state.decide(() => clock.resolution(kind));
  const monotonicNow = (): bigint => read('monotonic');
  const seconds = (ns: bigint) => ({ seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) });

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
    const now = none ? () => process.hrtime.bigint() : monotonicNow;
    const end = deadline;
    return new io.Pollable({
      ready: () => now() >= end,
      waitMs: () => Math.max(0, Number(end - now()) / 1e6),
    });
  }

  return {
    'wasi:clocks/monotonic-clock': guardFunctions({
      now: monotonicNow,
      resolution: () => resolution('monotonic'),
      // An instant names a reading of a clock the guest may not read: only durations are relative.
      subscribeInstant: (when: bigint) => timer(none ? read('monotonic') : when),
      subscribeDuration: (ns: bigint) => timer((none ? process.hrtime.bigint() : monotonicNow()) + ns),
    }, state),
    'wasi:clocks/wall-clock': guardFunctions({
      now: () => seconds(read('realtime')),
      resolution: () => seconds(resolution('realtime')),
    }, state),
  };
}
