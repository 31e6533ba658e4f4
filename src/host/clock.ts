/**
 * The clock capability, one meaning for every ABI:
 *  - `real` reads the host clocks;
 *  - `virtual` is deterministic: every clock starts at 0 and advances a fixed step per read and by
 *    the full length of every sleep, never reading host time;
 *  - `none` refuses every read of a time or a resolution: the refusal is reported as a `clock`
 *    violation and raised as ENOTCAPABLE (preview1 returns it; preview2, whose clocks have no error
 *    case, ends the guest with SecurityViolation('clock')). Relative sleeps reveal no time value,
 *    so they stay allowed, bounded by the embedder's deadline.
 */
import type { ClockPolicy } from '../security/capabilities.ts';
import { sleepMs } from './sleep.ts';
import type { Violations } from './violations.ts';

/** Nanoseconds a virtual clock advances on every read, so busy-wait loops still make progress. */
export const VIRTUAL_STEP_NS = 1000n;

export type ClockKind = 'realtime' | 'monotonic' | 'process-cpu' | 'thread-cpu';

export interface HostClock {
  readonly policy: ClockPolicy;
  /** Current time of a clock in ns. */
  now(kind: ClockKind): bigint;
  resolution(kind: ClockKind): bigint;
  /** Blocks (or, when virtual, just advances) for `ns`, never beyond what `budgetMs` allows. */
  sleep(ns: bigint, budgetMs: () => number, checkInterrupt: () => void): void;
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

class RealClock implements HostClock {
  readonly policy = 'real' as const;
  // Wall time from one Date.now() reading plus monotonic progress, for sub-millisecond resolution.
  private readonly epochOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

  now(kind: ClockKind): bigint {
    switch (kind) {
      case 'realtime': return this.epochOffset + process.hrtime.bigint();
      case 'monotonic': return process.hrtime.bigint();
      case 'process-cpu': {
        const u = process.cpuUsage();
        return BigInt(u.user + u.system) * 1000n;
      }
      case 'thread-cpu': {
        const u = typeof process.threadCpuUsage === 'function' ? process.threadCpuUsage() : process.cpuUsage();
        return BigInt(u.user + u.system) * 1000n;
      }
    }
  }

  resolution(kind: ClockKind): bigint {
    return kind === 'monotonic' ? 1n : 1000n;
  }

  sleep(ns: bigint, budgetMs: () => number, checkInterrupt: () => void): void {
    realSleep(ns, budgetMs, checkInterrupt);
  }
}

class VirtualClock implements HostClock {
  readonly policy = 'virtual' as const;
  private t = 0n;

  now(): bigint {
    const v = this.t;
    this.t += VIRTUAL_STEP_NS;
    return v;
  }

  resolution(): bigint {
    return VIRTUAL_STEP_NS;
  }

  sleep(ns: bigint, _budgetMs: () => number, checkInterrupt: () => void): void {
    this.t += ns;
    checkInterrupt();
  }
}

class NoClock implements HostClock {
  readonly policy = 'none' as const;
  private readonly violations: Violations;

  constructor(violations: Violations) {
    this.violations = violations;
  }

  now(kind: ClockKind): bigint {
    return this.violations.refuse('clock', `reading the ${kind} clock refused: no clock granted`, 'ENOTCAPABLE');
  }

  resolution(kind: ClockKind): bigint {
    return this.violations.refuse('clock', `reading the ${kind} clock's resolution refused: no clock granted`, 'ENOTCAPABLE');
  }

  sleep(ns: bigint, budgetMs: () => number, checkInterrupt: () => void): void {
    realSleep(ns, budgetMs, checkInterrupt);
  }
}

export function createHostClock(policy: ClockPolicy, violations: Violations): HostClock {
  if (policy === 'real') return new RealClock();
  if (policy === 'virtual') return new VirtualClock();
  return new NoClock(violations);
}
