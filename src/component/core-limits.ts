/**
 * Resource limits for the core modules inside a component. jco hands every core module to our
 * `getCoreModule` before compiling it and every core instantiation to our `instantiateCore` with its
 * import object, so each module is rewritten by `instrument()` (fuel checkpoints, clamped memories
 * and tables, routed `memory.grow`) and its `wasm_sandbox` imports are added at instantiation: no
 * change to jco's glue is needed.
 *
 * A component has several core instances, each with its own fuel counter, but one budget: every
 * checkpoint settles all counters into the shared total before refilling the one that ran out, so
 * the budget is exact however execution moves between modules. Deadlines and CPU time are the
 * Meter's, exactly as for core modules, and checkpoints are spaced the same way: about every half
 * millisecond when a clock limit needs them, otherwise only when the fuel budget runs out.
 */
import { ResourceLimitExceeded } from '../errors.ts';
import { FUEL_EXPORT, MEMORY_GROW_IMPORT, OUT_OF_FUEL_IMPORT, RESERVED_IMPORT_MODULE, type InstrumentOptions } from '../module/instrument.ts';
import { GrowPolicy } from '../runtime/limits/grow-policy.ts';
import { instrumentationFor } from '../runtime/limits/instrumentation-plan.ts';
import { DEFAULT_SLICE, Meter } from '../runtime/limits/meter.ts';
import type { ResourceLimits } from '../security/resource-limits.ts';

/** Checkpoint spacing for deadlines, as the core runtime's Meter aims for. */
const TARGET_MS = 0.5;
const MIN_SLICE = 10_000;
const MAX_SLICE = 2 ** 40;

class FuelPool {
  private readonly counters: (WebAssembly.Global | undefined)[] = [];
  private readonly given: number[] = [];
  /** Per slot: when its fuel was last handed out, and whether that was a whole slice still untouched by others. */
  private readonly refilledAt: number[] = [];
  private readonly whole: boolean[] = [];
  private readonly limit: number | null;
  private settled = 0;
  /** Units handed out per refill: adapted so checkpoints come about every TARGET_MS when a clock needs them. */
  private slice: number;
  private readonly timed: boolean;

  constructor(limit: number | null, timed: boolean) {
    this.limit = limit;
    this.timed = timed;
    this.slice = timed ? DEFAULT_SLICE : MAX_SLICE;
  }

  /** A slot for one core instance; its counter is bound once the instance exists. */
  add(): number {
    this.counters.push(undefined);
    this.given.push(0);
    this.refilledAt.push(0);
    this.whole.push(false);
    return this.counters.length - 1;
  }

  bind(slot: number, counter: WebAssembly.Global): void {
    this.counters[slot] = counter;
    this.refill(slot, performance.now());
  }

  /**
   * Moves what every counter has spent into the total. Under a fuel budget the other counters are
   * emptied too, so fuel they still hold cannot overrun it; without one they keep what is left:
   * emptying them would make instances that take turns (a component's main module and its adapters
   * do, on every call) stop at a checkpoint on each turn for nothing.
   */
  private settleAll(): void {
    const empty = this.limit !== null;
    for (let i = 0; i < this.counters.length; i++) {
      const c = this.counters[i];
      if (!c) continue;
      const left = Number(c.value as bigint);
      this.settled += this.given[i] - left;
      if (empty) {
        c.value = 0n;
        this.given[i] = 0;
        this.whole[i] = false;
      } else {
        this.given[i] = left;
      }
    }
  }

  /** Marks the start of an outermost call: time between calls says nothing about how fast fuel burns. */
  enter(now: number): void {
    for (let i = 0; i < this.refilledAt.length; i++) this.refilledAt[i] = now;
  }

  /** Called when counter `slot` went negative: settles, enforces the budget, checks the clock. */
  outOfFuel(slot: number, checkClock: (() => number) | undefined): void {
    // Only a whole slice this counter burnt itself says how fast fuel goes; a counter emptied by
    // another's checkpoint runs out at once, and growing the slice on that would delay deadlines.
    const burnt = this.whole[slot];
    if (this.counters[slot]) {
      this.settleAll();
      if (this.limit !== null && this.settled > this.limit) throw new ResourceLimitExceeded('fuel', this.limit, this.settled);
    }
    let now = 0;
    if (this.timed && checkClock) {
      now = checkClock();
      const elapsed = now - this.refilledAt[slot];
      if (burnt && elapsed < TARGET_MS / 2) this.slice = Math.min(this.slice * 2, MAX_SLICE);
      else if (burnt && elapsed > TARGET_MS * 2) this.slice = Math.max(Math.floor(this.slice / 2), MIN_SLICE);
    }
    this.refill(slot, now);
  }

  private refill(slot: number, now: number): void {
    const c = this.counters[slot];
    if (!c) return;
    const n = this.limit === null ? this.slice : Math.max(0, Math.min(this.slice, this.limit - this.settled));
    this.given[slot] = n;
    this.whole[slot] = n === this.slice;
    this.refilledAt[slot] = now;
    c.value = BigInt(n);
  }

  consumed(): number {
    let live = 0;
    for (let i = 0; i < this.counters.length; i++) {
      const c = this.counters[i];
      if (c) live += this.given[i] - Number(c.value as bigint);
    }
    return this.settled + live;
  }
}

/** The limits of one component instance, shared by all its core instances. */
export class CoreLimits {
  /** How core modules are rewritten for these limits, or null when they run as they are. */
  readonly instrumentation: InstrumentOptions | null;
  readonly meter: Meter | undefined;
  private readonly fuel: FuelPool;
  private readonly grow: GrowPolicy | undefined;

  /** `interruptible`: checkpoints every slice even without a clock limit (see Meter), for guests on worker threads. */
  constructor(limits: ResourceLimits, onRefused: (err: ResourceLimitExceeded) => void = () => {}, interruptible = false) {
    this.instrumentation = instrumentationFor(limits, { alwaysMeter: interruptible });
    this.meter = this.instrumentation?.meter ? new Meter(limits, DEFAULT_SLICE, interruptible) : undefined;
    const { time } = limits;
    const timed = interruptible || time.callTimeoutMs !== null || time.initTimeoutMs !== null || time.instanceLifetimeMs !== null || limits.cpu.maxCpuTimeMs !== null;
    this.fuel = new FuelPool(limits.cpu.fuel, timed);
    this.grow = this.instrumentation?.routeMemoryGrow ? new GrowPolicy(limits, onRefused) : undefined;
  }

  /** Options as a cache key for compiled variants. */
  get key(): string {
    return JSON.stringify(this.instrumentation);
  }

  /** jco's `instantiateCore`, supplying the `wasm_sandbox` imports instrumented modules expect. */
  readonly instantiateCore = (module: WebAssembly.Module, imports: WebAssembly.Imports = {}): WebAssembly.Instance => {
    const wanted = WebAssembly.Module.imports(module).filter((i) => i.module === RESERVED_IMPORT_MODULE);
    if (wanted.length === 0) return new WebAssembly.Instance(module, imports);
    const slot = this.fuel.add();
    const meter = this.meter;
    const checkClock = meter ? () => meter.checkClock() : undefined;
    const own: Record<string, unknown> = {};
    for (const i of wanted) {
      if (i.name === OUT_OF_FUEL_IMPORT) {
        own[i.name] = (): void => this.fuel.outOfFuel(slot, checkClock);
      } else if (i.name === MEMORY_GROW_IMPORT && this.grow) {
        own[i.name] = this.grow.memoryGrow;
      }
    }
    const instance = new WebAssembly.Instance(module, { ...imports, [RESERVED_IMPORT_MODULE]: own as WebAssembly.ModuleImports });
    const counter = instance.exports[FUEL_EXPORT];
    if (counter instanceof WebAssembly.Global) this.fuel.bind(slot, counter);
    return instance;
  };

  fuelConsumed(): number {
    return this.fuel.consumed();
  }

  get peakMemoryPages(): number {
    return this.grow?.peakPages ?? 0;
  }

  /** Starts a call, or with `initialization` the component's instantiation (held to `time.initTimeoutMs`). */
  enter(kind: 'call' | 'initialization' = 'call'): void {
    this.meter?.enter(kind);
    this.fuel.enter(performance.now());
  }

  exit(): void {
    this.meter?.exit();
  }

  /** Deadline check for blocking host calls. */
  checkClock(): void {
    this.meter?.checkClock();
  }

  remainingMs(): number {
    return this.meter ? this.meter.remainingMs() : Infinity;
  }
}
