import type { ClockPolicy } from '../security/capabilities.ts';
import { CLOCKID } from './constants.ts';
import { ERRNO, fail } from './errno.ts';
import { sleepMs } from './sleep.ts';

/** Nanoseconds a virtual clock advances on every read, so busy-wait loops still make progress. */
export const VIRTUAL_STEP_NS = 1000n;

/**
 * The guest's view of time. `real` reads the host clocks; `virtual` is deterministic (starts at 0,
 * advances a fixed step per read and by the full length of every sleep, never reads host time);
 * `none` refuses every read with ENOTCAPABLE.
 */
export interface Clock {
  readonly policy: ClockPolicy;
  /** Current time of clock `id` in ns; EINVAL for unknown ids, ENOTCAPABLE when time is denied. */
  now(id: number): bigint;
  resolution(id: number): bigint;
  /** Blocks (or, when virtual, just advances) for `ns`, never beyond what `budgetMs` allows. */
  sleep(ns: bigint, budgetMs: () => number, checkInterrupt: () => void): void;
}

/** EINVAL unless `id` names a preview1 clock. */
export function validId(id: number): void {
  if (id !== CLOCKID.REALTIME && id !== CLOCKID.MONOTONIC && id !== CLOCKID.PROCESS_CPUTIME_ID && id !== CLOCKID.THREAD_CPUTIME_ID) fail(ERRNO.INVAL);
}

/** Sleeps in slices so an embedder's interrupt (cancel, deadline) is noticed within ~50 ms. */
function realSleep(ns: bigint, budgetMs: () => number, checkInterrupt: () => void): void {
  const end = performance.now() + Number(ns) / 1e6;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) break;
    const budget = budgetMs();
    if (budget <= 0) {
      checkInterrupt();
      // The embedder let the deadline pass without stopping us: wake the guest rather than spin.
      break;
    }
    sleepMs(Math.max(1, Math.min(left, budget, 50)));
    checkInterrupt();
  }
  checkInterrupt();
}

class RealClock implements Clock {
  readonly policy = 'real' as const;
  // Wall time from one Date.now() reading plus monotonic progress, for sub-millisecond resolution.
  private readonly epochOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

  now(id: number): bigint {
    switch (id) {
      case CLOCKID.REALTIME: return this.epochOffset + process.hrtime.bigint();
      case CLOCKID.MONOTONIC: return process.hrtime.bigint();
      case CLOCKID.PROCESS_CPUTIME_ID: {
        const u = process.cpuUsage();
        return BigInt(u.user + u.system) * 1000n;
      }
      case CLOCKID.THREAD_CPUTIME_ID: {
        const u = typeof process.threadCpuUsage === 'function' ? process.threadCpuUsage() : process.cpuUsage();
        return BigInt(u.user + u.system) * 1000n;
      }
    }
    return fail(ERRNO.INVAL);
  }

  resolution(id: number): bigint {
    validId(id);
    return id === CLOCKID.MONOTONIC ? 1n : 1000n;
  }

  sleep(ns: bigint, budgetMs: () => number, checkInterrupt: () => void): void {
    realSleep(ns, budgetMs, checkInterrupt);
  }
}

class VirtualClock implements Clock {
  readonly policy = 'virtual' as const;
  private t = 0n;

  now(id: number): bigint {
    validId(id);
    const v = this.t;
    this.t += VIRTUAL_STEP_NS;
    return v;
  }

  resolution(id: number): bigint {
    validId(id);
    return VIRTUAL_STEP_NS;
  }

  sleep(ns: bigint, _budgetMs: () => number, checkInterrupt: () => void): void {
    this.t += ns;
    checkInterrupt();
  }
}

class NoClock implements Clock {
  readonly policy = 'none' as const;

  now(id: number): bigint {
    validId(id);
    return fail(ERRNO.NOTCAPABLE);
  }

  resolution(id: number): bigint {
    validId(id);
    return fail(ERRNO.NOTCAPABLE);
  }

  // Relative sleeps reveal no time value, so they stay allowed (bounded by the embedder's budget).
  sleep(ns: bigint, budgetMs: () => number, checkInterrupt: () => void): void {
    realSleep(ns, budgetMs, checkInterrupt);
  }
}

export function createClock(policy: ClockPolicy): Clock {
  if (policy === 'real') return new RealClock();
  if (policy === 'virtual') return new VirtualClock();
  return new NoClock();
}
