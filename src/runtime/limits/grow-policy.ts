import { ResourceLimitExceeded } from '../../errors.ts';
import { WASM_PAGE_BYTES, type ResourceLimits } from '../../security/resource-limits.ts';

/**
 * Host side of the routed `memory.grow` (see docs/instrumentation.md): decides whether a guest's grow
 * may proceed. The memory limit is a total over all of an instance's memories, so the policy keeps
 * the size of each. A refusal makes the guest's `memory.grow` return -1 exactly as an engine limit
 * would, so C's malloc returns NULL; with `trapOnGrowFailure` the guest traps instead.
 */
export class GrowPolicy {
  private readonly maxPages: number | null;
  private readonly ratePerSec: number | null;
  private readonly trap: boolean;
  private readonly onRefused: (error: ResourceLimitExceeded) => void;
  /** Pages granted in the current one-second window, for the growth-rate limit. */
  private windowStart = 0;
  private windowPages = 0;
  /** Pages of each memory as last seen (every grow of the instance's memories comes through here), and their sum. */
  private readonly sizes: number[];
  private totalPages: number;
  peakPages = 0;

  /** `initialPages`: the size of each memory of the instance, in index order, when it is created. */
  constructor(limits: ResourceLimits, onRefused: (error: ResourceLimitExceeded) => void, initialPages: readonly number[] = []) {
    this.maxPages = limits.maxPages;
    this.ratePerSec = limits.memory.maxGrowthRatePagesPerSec;
    this.trap = limits.memory.trapOnGrowFailure;
    this.onRefused = onRefused;
    this.sizes = [...initialPages];
    this.totalPages = this.sizes.reduce((sum, pages) => sum + pages, 0);
  }

  static needed(limits: ResourceLimits): boolean {
    return limits.maxPages !== null || limits.memory.maxGrowthRatePagesPerSec !== null || limits.memory.trapOnGrowFailure;
  }

  /** `wasm_sandbox.memory_grow(memidx, delta, current) -> 1 | 0`. */
  readonly memoryGrow = (memidx: number, delta: number, current: number): number => {
    const pages = delta >>> 0;
    const now = current >>> 0;
    this.totalPages += now - (this.sizes[memidx] ?? 0);
    this.sizes[memidx] = now;
    const target = this.totalPages + pages;
    let refusal: ResourceLimitExceeded | undefined;
    if (this.maxPages !== null && target > this.maxPages) {
      refusal = new ResourceLimitExceeded('memory', this.maxPages * WASM_PAGE_BYTES, target * WASM_PAGE_BYTES, 'memory.grow refused');
    } else if (this.ratePerSec !== null && pages > 0) {
      const time = performance.now();
      if (time - this.windowStart >= 1000) {
        this.windowStart = time;
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
    // Counted as granted: if the engine still refuses it (the declared maximum), the next grow reports the real size.
    this.sizes[memidx] = now + pages;
    this.totalPages = target;
    if (target > this.peakPages) this.peakPages = target;
    return 1;
  };
}
