import { ResourceLimitExceeded } from '../../errors.ts';
import { WASM_PAGE_BYTES, type ResourceLimits } from '../../security/resource-limits.ts';

/**
 * Host side of the routed `memory.grow` (see docs/instrumentation.md): decides whether a guest's grow
 * may proceed. A refusal makes the guest's `memory.grow` return -1 exactly as an engine limit would,
 * so C's malloc returns NULL; with `trapOnGrowFailure` the guest traps instead.
 */
export class GrowPolicy {
  private readonly maxPages: number | null;
  private readonly ratePerSec: number | null;
  private readonly trap: boolean;
  private readonly onRefused: (error: ResourceLimitExceeded) => void;
  /** Pages granted in the current one-second window, for the growth-rate limit. */
  private windowStart = 0;
  private windowPages = 0;
  peakPages = 0;

  constructor(limits: ResourceLimits, onRefused: (error: ResourceLimitExceeded) => void) {
    this.maxPages = limits.maxPages;
    this.ratePerSec = limits.memory.maxGrowthRatePagesPerSec;
    this.trap = limits.memory.trapOnGrowFailure;
    this.onRefused = onRefused;
  }

  static needed(limits: ResourceLimits): boolean {
    return limits.maxPages !== null || limits.memory.maxGrowthRatePagesPerSec !== null || limits.memory.trapOnGrowFailure;
  }

  /** `wasm_sandbox.memory_grow(memidx, delta, current) -> 1 | 0`. */
  readonly memoryGrow = (_memidx: number, delta: number, current: number): number => {
    const pages = delta >>> 0;
    const target = (current >>> 0) + pages;
    let refusal: ResourceLimitExceeded | undefined;
    if (this.maxPages !== null && target > this.maxPages) {
      refusal = new ResourceLimitExceeded('memory', this.maxPages * WASM_PAGE_BYTES, target * WASM_PAGE_BYTES, 'memory.grow refused');
    } else if (this.ratePerSec !== null && pages > 0) {
      const now = performance.now();
      if (now - this.windowStart >= 1000) {
        this.windowStart = now;
        this.windowPages = 0;
      }
      if (this.windowPages + pages > this.ratePerSec) {
        refusal = new ResourceLimitExceeded('memory-growth-rate', this.ratePerSec, this.windowPages + pages, 'pages per second; memory.grow refused');
      } else {
        this.windowPages += pages;
      }
    }
    if (refusal) {
      this.onRefused(refusal);
      if (this.trap) throw refusal;
      return 0;
    }
    if (target > this.peakPages) this.peakPages = target;
    return 1;
  };
}
