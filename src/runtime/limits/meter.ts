import { InvalidArguments, ResourceLimitExceeded, Timeout } from '../../errors.ts';
import { BULK_BYTES_PER_UNIT } from '../../module/instrument.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import { monotonicMs } from '../monotonic.ts';
import { epochClock, epochNow, TICK_MS } from './epoch-clock.ts';

/**
 * Fuel units handed to the guest between two host checkpoints, when a clock limit needs checkpoints at
 * all. The slice adapts so that checkpoints come about every TARGET_MS: often enough that a deadline is
 * noticed within a millisecond or two, rarely enough that their cost (a host call, a clock read and a
 * CPU-time read, about a microsecond) stays far below 1% of the run time whatever a unit costs.
 */
export const DEFAULT_SLICE = 100_000;
const MIN_SLICE = 10_000;
const MAX_SLICE = 2 ** 40;
const TARGET_MS = 0.5;

const hasThreadCpu = typeof (process as { threadCpuUsage?: unknown }).threadCpuUsage === 'function';
function threadCpuMs(): number {
  const u = hasThreadCpu ? process.threadCpuUsage() : process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Host side of the injected fuel counter (see docs/instrumentation.md). The guest decrements a counter
 * global and calls `out_of_fuel` when it goes negative; here that checkpoint settles the fuel actually
 * spent, enforces the fuel budget, the call and lifetime deadlines and CPU time, and hands out the next
 * slice. Nothing runs on the host per loop iteration, so deadlines cost only the checkpoints.
 */
export class Meter {
  private counter: WebAssembly.Global | undefined;
  private fuelLimit: number | null;
  private readonly callTimeoutMs: number | null;
  private readonly initTimeoutMs: number | null;
  /** The deadline of the outermost call under way: a call's, or initialisation's. */
  /** What the outermost call in progress is, and its deadline (two fields: entering a call allocates nothing). */
  private currentKind: 'call' | 'initialization' = 'call';
  private currentMs: number | null = null;
  private readonly lifetimeMs: number | null;
  private readonly maxCpuTimeMs: number | null;
  private readonly createdAt = monotonicMs();
  private readonly lifetimeEnd: number;
  private slice: number;
  /** Whether anything but fuel needs checkpoints; without, a slice is the whole remaining budget. */
  private readonly timed: boolean;
  private lastCheckpoint = 0;
  /** Fuel spent in slices already settled. */
  private settled = 0;
  /** Size of the slice currently in the counter. */
  private given = 0;
  private depth = 0;
  /**
   * When the outermost call started, on the coarse epoch clock: up to a tick early, which the call
   * deadline allows for (see enter()).
   */
  private callStart = 0;
  private cpuMark = 0;
  private callCpuMs = 0;
  /** CPU time spent in guest calls, sampled at checkpoints. */
  cpuTimeMs = 0;

  /**
   * `interruptible`: checkpoints come every slice even without a clock limit, so that the thread the
   * guest runs on reaches host code often enough for a termination to take effect (worker threads:
   * V8 does not always stop a loop of long bulk instructions at its back edge).
   */
  constructor(limits: ResourceLimits, slice = DEFAULT_SLICE, interruptible = false) {
    this.fuelLimit = limits.cpu.fuel;
    this.callTimeoutMs = limits.time.callTimeoutMs;
    this.initTimeoutMs = limits.time.initTimeoutMs;
    this.lifetimeMs = limits.time.instanceLifetimeMs;
    this.lifetimeEnd = this.lifetimeMs === null ? Infinity : this.createdAt + this.lifetimeMs;
    this.maxCpuTimeMs = limits.cpu.maxCpuTimeMs;
    this.timed = interruptible || this.callTimeoutMs !== null || this.initTimeoutMs !== null || this.lifetimeMs !== null || this.maxCpuTimeMs !== null;
    this.slice = this.timed ? slice : MAX_SLICE;
  }

  /**
   * Whether the guest must be metered. The initialisation deadline counts only for a module that runs
   * code while it is made (`runsAtInit`): metering one that does not, for that alone, would slow every
   * later call for nothing.
   */
  static needed(limits: ResourceLimits, runsAtInit = true): boolean {
    const { time } = limits;
    return limits.cpu.fuel !== null || limits.cpu.maxCpuTimeMs !== null || time.callTimeoutMs !== null || time.instanceLifetimeMs !== null || (runsAtInit && time.initTimeoutMs !== null);
  }

  /** The `wasm_sandbox` imports the instrumented module expects. */
  readonly outOfFuel = (): void => {
    const counter = this.counter;
    // The counter is exported, so it is unbound while the start function runs: deadlines still hold.
    if (!counter) {
      this.checkClock();
      return;
    }
    const left = Number(counter.value as bigint);
    this.settled += this.given - left;
    counter.value = 0n;
    this.given = 0;
    if (this.fuelLimit !== null && this.settled > this.fuelLimit) {
      throw new ResourceLimitExceeded('fuel', this.fuelLimit, this.settled);
    }
    if (this.timed) {
      const now = this.checkClock();
      // A call's start counts as a checkpoint; enter() does not store it twice.
      this.adapt(now - Math.max(this.lastCheckpoint, this.callStart));
      this.lastCheckpoint = now;
    }
    this.refill();
  };

  /** Grows the slice while checkpoints come faster than the target, shrinks it when slower. */
  private adapt(elapsedMs: number): void {
    if (elapsedMs < TARGET_MS / 2) this.slice = Math.min(this.slice * 2, MAX_SLICE);
    else if (elapsedMs > TARGET_MS * 2) this.slice = Math.max(Math.floor(this.slice / 2), MIN_SLICE);
  }

  /** Binds the counter exported by the instrumented instance and hands out the first slice. */
  bind(counter: WebAssembly.Global): void {
    this.counter = counter;
    this.refill();
  }

  private refill(): void {
    const remaining = this.fuelLimit === null ? this.slice : Math.min(this.slice, this.fuelLimit - this.settled);
    this.given = Math.max(0, remaining);
    this.counter!.value = BigInt(this.given);
  }

  /** Deadlines and CPU time, checked at checkpoints and before blocking host operations; returns the time. */
  checkClock(): number {
    const now = monotonicMs();
    if (this.lifetimeMs !== null && now - this.createdAt >= this.lifetimeMs) {
      throw new Timeout('instance-lifetime', this.lifetimeMs, now - this.createdAt);
    }
    if (this.depth === 0) return now;
    const deadline = this.currentMs;
    if (deadline !== null && now - this.callStart >= deadline + TICK_MS) throw new Timeout(this.currentKind, deadline, now - this.callStart);
    this.sampleCpu(now);
    if (this.maxCpuTimeMs !== null && this.callCpuMs >= this.maxCpuTimeMs) {
      throw new ResourceLimitExceeded('cpu-time', this.maxCpuTimeMs, Math.round(this.callCpuMs));
    }
    return now;
  }

  /** Adds the CPU time spent since the last mark to the call's and the instance's. */
  private sampleCpu(now: number): void {
    const cpu = threadCpuMs();
    // Until the first checkpoint of a call, its CPU time is taken to be its wall time (see enter()).
    const spent = this.cpuMark < 0 ? now - this.callStart : cpu - this.cpuMark;
    this.callCpuMs += spent;
    this.cpuTimeMs += spent;
    this.cpuMark = cpu;
  }

  /**
   * The guest is suspended in an async host function (JSPI): what the thread does until `resume()` is
   * the host's work, not the guest's, so CPU time stops counting. Deadlines keep running.
   */
  suspend(): void {
    if (this.depth > 0) this.sampleCpu(monotonicMs());
  }

  resume(): void {
    if (this.depth > 0) this.cpuMark = threadCpuMs();
  }

  /**
   * Charges work a host call is about to do for the guest, in proportion to its size: one fuel unit
   * per BULK_BYTES_PER_UNIT bytes, as bulk memory instructions are charged. When that exhausts the
   * slice, the checkpoint runs now, before the work: fuel, deadlines and CPU time are enforced (by
   * throwing their typed errors) first. Call it from host functions only, while the guest waits in
   * the import (the counter is exact then).
   */
  chargeBytes(bytes: number): void {
    if (!(bytes > 0)) return;
    const counter = this.counter;
    if (!counter) {
      this.checkClock();
      return;
    }
    const units = Math.ceil(Math.min(bytes, Number.MAX_SAFE_INTEGER) / BULK_BYTES_PER_UNIT);
    const left = Number(counter.value as bigint) - units;
    counter.value = BigInt(left);
    if (left < 0) this.outOfFuel();
  }

  /** Milliseconds the current call may still block in a host operation before a deadline passes. */
  remainingMs(): number {
    const now = monotonicMs();
    let left = Infinity;
    if (this.lifetimeMs !== null) left = Math.min(left, this.lifetimeMs - (now - this.createdAt));
    if (this.currentMs !== null && this.depth > 0) left = Math.min(left, this.currentMs + TICK_MS - (now - this.callStart));
    return Math.max(0, left);
  }

  /**
   * Marks the start of an outermost guest call; nested (re-entrant) calls share the outer deadline.
   * `initialization` (instantiation, the start function, `_initialize`) is held to `initTimeoutMs`
   * instead of the call deadline. The start is read from the epoch clock (a load; a clock read costs
   * more than the call), which is up to a tick old: the deadline gets that tick on top. Only a ticker
   * thread kept off the CPU for longer than a tick (a saturated machine) makes a call's clock start
   * earlier, by that delay. Reading thread CPU time costs ~0.4 µs, so it is sampled only at
   * checkpoints: a call shorter than one slice is charged its wall time, which for a guest that does
   * not block is the same thing.
   */
  enter(kind: 'call' | 'initialization' = 'call'): void {
    if (this.depth++ === 0) {
      const now = epochNow();
      this.currentKind = kind;
      this.currentMs = kind === 'call' ? this.callTimeoutMs : this.initTimeoutMs;
      this.callStart = now;
      if (this.maxCpuTimeMs === null) this.cpuMark = -1;
      else {
        this.callCpuMs = 0;
        this.cpuMark = threadCpuMs();
      }
      // An instance past its lifetime must not start another call, however short.
      if (now >= this.lifetimeEnd) {
        throw new Timeout('instance-lifetime', this.lifetimeMs!, now - this.createdAt);
      }
    }
  }

  exit(): void {
    if (--this.depth === 0) {
      if (this.cpuMark >= 0) {
        this.cpuTimeMs += threadCpuMs() - this.cpuMark;
        return;
      }
      // Wall time on the epoch clock: a short call is charged a whole tick or nothing, which averages
      // out; most calls see the word unchanged and store nothing.
      const now = epochClock[0];
      if (now !== this.callStart) this.cpuTimeMs += Math.max(0, (now || monotonicMs()) - this.callStart);
    }
  }

  /** Fuel spent so far, including the part of the current slice already used. */
  fuelConsumed(): number {
    const left = this.counter ? Number(this.counter.value as bigint) : 0;
    return this.settled + (this.given - left);
  }

  /** Fuel left, or null when fuel is not limited. */
  getFuel(): number | null {
    return this.fuelLimit === null ? null : Math.max(0, this.fuelLimit - this.fuelConsumed());
  }

  addFuel(units: number): void {
    if (!Number.isSafeInteger(units) || units < 0) throw new InvalidArguments(`addFuel expects a non-negative integer, got ${units}`);
    if (this.fuelLimit === null) throw new InvalidArguments('this instance has no fuel limit; set resourceLimits.cpu.fuel to meter it');
    this.fuelLimit += units;
    // Settle the live slice so the new budget takes effect at the next checkpoint.
    if (this.counter) {
      this.settled = this.fuelConsumed();
      this.refill();
    }
  }
}
