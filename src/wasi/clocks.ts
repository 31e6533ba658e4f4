import type { ClockKind, HostClock } from '../host/clock.ts';
import { ERRNO, fail } from './errno.ts';

const KINDS: readonly ClockKind[] = ['realtime', 'monotonic', 'process-cpu', 'thread-cpu'];

/** The core clock a preview1 clock id names; EINVAL for any other id. */
export function clockKind(id: number): ClockKind {
  const kind = KINDS[id >>> 0];
  if (kind === undefined) fail(ERRNO.INVAL);
  return kind;
}

export function validId(id: number): void {
  clockKind(id);
}

/** The core clock (src/host/clock.ts) addressed by preview1 clock ids. */
export interface Clock {
  readonly policy: HostClock['policy'];
  now(id: number): bigint;
  resolution(id: number): bigint;
  sleep: HostClock['sleep'];
}

export function preview1Clock(core: HostClock): Clock {
  return {
    policy: core.policy,
    now: (id) => core.now(clockKind(id)),
    resolution: (id) => core.resolution(clockKind(id)),
    sleep: (ns, budgetMs, checkInterrupt) => core.sleep(ns, budgetMs, checkInterrupt),
  };
}
