import { dataInvoker, type DataInvoker } from '../../communication/data-invoker.ts';
import { ExtismKernel } from '../../communication/extism-kernel.ts';
import { dataFunctions, EXTISM_MODULE, type DataFunction } from '../../communication/guest-abi.ts';
import {
  AsyncRequired, FunctionNotFound, InstanceNotFound, InstanceUnusable, InvalidArguments, InvalidModule, ResourceLimitExceeded, SecurityViolation, Timeout, Trap,
  WasmSandboxError,
} from '../../errors.ts';
import { ARRAY_TOO_LARGE_IMPORT, FUEL_EXPORT, MEMORY_GROW_IMPORT, OUT_OF_FUEL_IMPORT, RESERVED_IMPORT_MODULE } from '../../module/instrument.ts';
import { MAX_GC_ARRAY_ELEMENTS } from '../limits/instrumentation-plan.ts';
import type { FuncSignature, ModuleInfo } from '../../module/module-info.ts';
import { WasiHost } from '../../wasi/wasi-host.ts';
import { argumentChecker, compiledHandle, type CallGuard } from '../arguments.ts';
import { InstanceHostContext } from '../host-context.ts';
import { GrowPolicy } from '../limits/grow-policy.ts';
import { DEFAULT_SLICE, Meter } from '../limits/meter.ts';
import { runsAtInit } from '../limits/instrumentation-plan.ts';
import { linkImports, linksAsyncHostFunctions, type LinkCounters } from '../linker.ts';
import { toSandboxError } from '../traps.ts';
import type { FrameMap } from '../../module/frame-map.ts';
import { isStdinStream, type CapturedOutput, type InstanceMetrics, type ResolvedInstanceConfig, type RuntimeObserver, type SyncCall, type WasmInstance, type WasmResult, type WasmValue } from '../types.ts';
import { WASM_PAGE_BYTES, type ResourceLimits } from '../../security/resource-limits.ts';
import { accountingNow } from '../limits/epoch-clock.ts';
import { StateSnapshot, type SlotPool } from './recycled-slot.ts';

type State = 'ready' | 'unusable' | 'destroyed';

const EMPTY = new Uint8Array(0);

interface Parts {
  id: string;
  exports: WebAssembly.Exports;
  instance: WebAssembly.Instance;
  functions: Map<string, FuncSignature>;
  counters: LinkCounters & { traps: number; wallTimeMs: number; peakMemoryBytes: number };
  observer: RuntimeObserver;
  memories: WebAssembly.Memory[];
  meter: Meter | undefined;
  grow: GrowPolicy | undefined;
  wasi: WasiHost | undefined;
  kernel: ExtismKernel | undefined;
  dataFunctions: Map<string, DataFunction>;
  maxPayloadBytes: number | null;
  /** Whether the instance links async host functions (JSPI): then every export runs through `promising`. */
  suspending: boolean;
  /** Maps trap frames to the module as given; absent on a worker thread, whose host maps them. */
  frames: (() => FrameMap) | undefined;
  /** Set when the instance is recycled: destroying it restores the slot and returns it to its pool. */
  slot: Slot | undefined;
  /** Whether this use runs in a slot an earlier use ran in. */
  reused: boolean;
}

interface DataEntry {
  invoker: DataInvoker;
  guard: CallGuard;
}

type Promising = (fn: Function) => (...args: unknown[]) => Promise<unknown>;
const promising: Promising | undefined = (WebAssembly as unknown as { promising?: Promising }).promising;
const SuspendError = (WebAssembly as unknown as { SuspendError?: new () => Error }).SuspendError;

export class InProcessInstance implements WasmInstance {
  readonly id: string;
  readonly functions: ReadonlyMap<string, FuncSignature>;
  private readonly p: Parts;
  private readonly handles = new Map<string, SyncCall>();
  // One guard per handle keeps the hot path free of shared-state writes beyond its own counter.
  private readonly guards: CallGuard[] = [];
  private readonly dataEntries = new Map<string, DataEntry>();
  private readonly promisingExports = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  private readonly asyncGuards = new Map<string, CallGuard>();
  /** Settles when the call in flight does; calls into a suspending instance run one at a time. */
  private tail: Promise<unknown> = Promise.resolve();
  private state: State = 'ready';
  private unusableReason = '';

  private constructor(parts: Parts) {
    this.p = parts;
    this.id = parts.id;
    this.functions = parts.functions;
  }

  get suspending(): boolean {
    return this.p.suspending;
  }

  /** Whether this instance is a recycled slot's second or later use (see recycled-slot.ts). */
  get reused(): boolean {
    return this.p.reused;
  }

  get dataFunctions(): ReadonlyMap<string, DataFunction> {
    return this.p.dataFunctions;
  }

  /**
   * Links and instantiates. `info` describes `module` as compiled (after instrumentation, so it lists
   * the sandbox's own imports); the start function already runs under the meter.
   */
  static create(
    id: string, module: WebAssembly.Module, info: ModuleInfo, config: ResolvedInstanceConfig, observer: RuntimeObserver, options: InstanceOptions = {},
  ): InProcessInstance {
    const limits = config.resourceLimits;
    const frames = options.frames;
    const counters = { hostFunctionCalls: 0, traps: 0, wallTimeMs: 0, peakMemoryBytes: 0 };
    const use = freshUse(id, info, config, observer, options.interruptible === true);
    const { meter, wasi, kernel } = use;
    const pool = options.pool;
    // A recyclable instance reaches its use's imports through a holder the next use swaps.
    const current = pool ? { use, hostCalls: 0 } : undefined;
    const system = current ? forwardTo(current, use.system) : use.system;
    let self: InProcessInstance | undefined;
    const ctx = new InstanceHostContext(id, (name, args) => {
      if (!self) throw new Trap('host-error', 'a host function called back into the guest before instantiation finished');
      return self.callReentrant(name, args);
    });
    const suspending = linksAsyncHostFunctions(info, config);
    const deadline = meter
      ? { remainingMs: () => meter.remainingMs(), check: () => meter.checkClock(), suspend: () => meter.suspend(), resume: () => meter.resume() }
      : undefined;
    const imports = linkImports(info, config, ctx, counters, system, deadline);
    const initialPages = memoryPages(info, imports);
    checkTotalMemory(initialPages, limits.maxPages);
    use.grow = growPolicyFor(id, limits, observer, initialPages);
    let instance: WebAssembly.Instance;
    meter?.enter('initialization');
    try {
      instance = new WebAssembly.Instance(module, imports);
      const counter = instance.exports[FUEL_EXPORT];
      if (meter && counter instanceof WebAssembly.Global) meter.bind(counter);
      ctx.attach(instance.exports);
      // Reactors need their constructors run before any export is called, WASI or not.
      if (wasi) wasi.initialize(instance);
      else if (typeof instance.exports._initialize === 'function') (instance.exports._initialize as () => void)();
      if (config.initialize) callInitExport(instance, info, config.initialize);
    } catch (err) {
      wasi?.close();
      throw instantiationError(err, info, frames);
    } finally {
      meter?.exit();
    }
    const functions = new Map<string, FuncSignature>();
    for (const exp of info.exports) {
      if (exp.kind === 'function' && exp.signature) functions.set(exp.name, exp.signature);
    }
    const memories = [
      ...Object.values(instance.exports),
      ...Object.values(imports).flatMap((m) => Object.values(m as Record<string, unknown>)),
    ].filter((v, i, all): v is WebAssembly.Memory => v instanceof WebAssembly.Memory && all.indexOf(v) === i);
    // A start function that reached WASI left state derived from this use's host: not pristine for the next.
    const snapshot = current && pool && current.hostCalls === 0 ? StateSnapshot.take(instance.exports) : undefined;
    const slot = snapshot && current && pool ? { instance, info, functions, memories, snapshot, current, pool, suspending, initialPages, frames } : undefined;
    liveInstances++;
    self = new InProcessInstance({
      id, exports: instance.exports, instance, functions, counters, observer, memories, meter, grow: use.grow, wasi, kernel,
      dataFunctions: dataFunctions(info), maxPayloadBytes: limits.io.maxPayloadBytes, suspending, frames, slot, reused: false,
    });
    counters.peakMemoryBytes = self.memoryBytes();
    return self;
  }

  /** The next use of a recycled slot (already restored to its state after instantiation), with its own WASI host and meter. */
  static renew(slot: Slot, id: string, config: ResolvedInstanceConfig, observer: RuntimeObserver): InProcessInstance {
    const use = freshUse(id, slot.info, config, observer, false);
    use.grow = growPolicyFor(id, config.resourceLimits, observer, slot.initialPages);
    slot.current.use = use;
    const { instance } = slot;
    const counter = instance.exports[FUEL_EXPORT];
    if (use.meter && counter instanceof WebAssembly.Global) use.meter.bind(counter);
    use.wasi?.initialize(instance);
    const counters = { hostFunctionCalls: 0, traps: 0, wallTimeMs: 0, peakMemoryBytes: 0 };
    liveInstances++;
    const self = new InProcessInstance({
      id, exports: instance.exports, instance, functions: slot.functions, counters, observer, memories: slot.memories,
      meter: use.meter, grow: use.grow, wasi: use.wasi, kernel: use.kernel, dataFunctions: dataFunctions(slot.info),
      maxPayloadBytes: config.resourceLimits.io.maxPayloadBytes, suspending: slot.suspending, frames: slot.frames, slot, reused: true,
    });
    counters.peakMemoryBytes = self.memoryBytes();
    return self;
  }

  syncHandle(name: string): SyncCall {
    let handle = this.handles.get(name);
    if (!handle) {
      handle = this.makeHandle(name);
      this.handles.set(name, handle);
    }
    return handle;
  }

  private newGuard(name: string): CallGuard {
    const guard: CallGuard = {
      ready: this.state === 'ready',
      enter: () => this.throwNotReady(),
      fail: (err) => this.failed(err, name),
      calls: 0,
    };
    this.guards.push(guard);
    return guard;
  }

  private makeHandle(name: string): SyncCall {
    const sig = this.functions.get(name);
    const fn = this.p.exports[name];
    if (!sig || typeof fn !== 'function') throw new FunctionNotFound(name, [...this.functions.keys()]);
    const guard = this.newGuard(name);
    const meter = this.p.meter;
    const fast = compiledHandle(name, sig, fn, guard, meter);
    if (fast) return fast as SyncCall;
    const check = argumentChecker(name, sig);
    const f = fn as (...a: WasmValue[]) => WasmResult;
    return (...args: WasmValue[]): WasmResult => {
      if (!guard.ready) guard.enter();
      const checked = check(args);
      guard.calls++;
      try {
        meter?.enter();
        return f(...checked);
      } catch (err) {
        throw guard.fail(err);
      } finally {
        meter?.exit();
      }
    };
  }

  callSync(name: string, args: readonly WasmValue[]): WasmResult {
    if (this.p.suspending) throw new AsyncRequired(name);
    return this.syncHandle(name)(...args);
  }

  /**
   * A host function calling back into its guest: synchronous, on the same stack, under the outer call's
   * meter. In a suspending instance it may not reach an async host function (there is no promise to
   * suspend into); the engine's refusal becomes AsyncRequired.
   */
  callReentrant(name: string, args: readonly WasmValue[]): WasmResult {
    return this.syncHandle(name)(...args);
  }

  async call(name: string, args: readonly WasmValue[]): Promise<WasmResult> {
    if (this.p.suspending) return this.exclusive(() => this.callSuspending(name, args));
    const handle = this.syncHandle(name);
    const start = accountingNow();
    try {
      return handle(...args);
    } finally {
      this.p.counters.wallTimeMs += accountingNow() - start;
      this.trackPeak();
    }
  }

  /** Runs jobs on a suspending instance one after another: a guest suspended mid-call must not be entered by another caller. */
  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job, job);
    this.tail = run.catch(() => {});
    return run;
  }

  private async callSuspending(name: string, args: readonly WasmValue[]): Promise<WasmResult> {
    const sig = this.functions.get(name);
    const fn = this.p.exports[name];
    if (!sig || typeof fn !== 'function') throw new FunctionNotFound(name, [...this.functions.keys()]);
    const checked = argumentChecker(name, sig)(args);
    return this.guarded(name, this.asyncGuard(name), () => this.promisingExport(name, fn)(...checked)) as Promise<WasmResult>;
  }

  private promisingExport(name: string, fn: Function): (...args: unknown[]) => Promise<unknown> {
    let wrapped = this.promisingExports.get(name);
    if (!wrapped) {
      if (!promising) throw new AsyncRequired(name, 'this engine lacks WebAssembly.promising');
      wrapped = promising(fn);
      this.promisingExports.set(name, wrapped);
    }
    return wrapped;
  }

  private asyncGuard(name: string): CallGuard {
    let guard = this.asyncGuards.get(name);
    if (!guard) this.asyncGuards.set(name, (guard = this.newGuard(name)));
    return guard;
  }

  /** One asynchronous guest call under the guard and the meter, timed like a synchronous one. */
  private async guarded<T>(name: string, guard: CallGuard, run: () => Promise<T>): Promise<T> {
    if (!guard.ready) guard.enter();
    guard.calls++;
    const start = accountingNow();
    const meter = this.p.meter;
    meter?.enter();
    try {
      return await run();
    } catch (err) {
      throw guard.fail(err);
    } finally {
      meter?.exit();
      this.p.counters.wallTimeMs += accountingNow() - start;
      this.trackPeak();
    }
  }

  // --- structured calls -------------------------------------------------------------------

  private dataEntry(name: string): DataEntry {
    let entry = this.dataEntries.get(name);
    if (entry) return entry;
    const fn = this.p.dataFunctions.get(name);
    if (!fn) {
      const numeric = this.functions.has(name) ? ` ('${name}' is a numeric export: call it with callFunction)` : '';
      throw new FunctionNotFound(name, [...this.p.dataFunctions.keys()], numeric);
    }
    const invoker = dataInvoker(fn, {
      exports: this.p.exports,
      kernel: this.p.kernel,
      maxPayloadBytes: this.p.maxPayloadBytes,
      promising: (f) => this.promisingExport(fn.exportName, f),
    });
    entry = { invoker, guard: this.newGuard(name) };
    this.dataEntries.set(name, entry);
    return entry;
  }

  /** A structured call run to completion on this thread (what the worker runtime uses). */
  callDataSync(name: string, input: Uint8Array): Uint8Array {
    const { invoker, guard } = this.dataEntry(name);
    if (!guard.ready) guard.enter();
    if (this.p.suspending) throw new AsyncRequired(name);
    return this.guardedSync(guard, () => invoker.sync(input));
  }

  /** One synchronous guest run under the guard and the meter, timed and counted like a call. */
  private guardedSync<T>(guard: CallGuard, run: () => T): T {
    if (!guard.ready) guard.enter();
    guard.calls++;
    const meter = this.p.meter;
    const start = accountingNow();
    meter?.enter();
    try {
      return run();
    } catch (err) {
      throw guard.fail(err);
    } finally {
      meter?.exit();
      this.p.counters.wallTimeMs += accountingNow() - start;
      this.trackPeak();
    }
  }

  async callData(name: string, input: Uint8Array): Promise<Uint8Array> {
    if (!this.p.suspending) return this.callDataSync(name, input);
    const { invoker, guard } = this.dataEntry(name);
    return this.exclusive(() => this.guarded(name, guard, () => invoker.async(input)));
  }

  // --- memory -----------------------------------------------------------------------------

  private exportedMemory(): WebAssembly.Memory {
    const memory = this.p.exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) throw new InvalidArguments("the instance exports no memory named 'memory'");
    return memory;
  }

  private memoryView(ptr: number, len: number): Uint8Array {
    if (this.state === 'destroyed') throw new InstanceNotFound(this.id);
    const buffer = this.exportedMemory().buffer;
    if (!Number.isSafeInteger(ptr) || !Number.isSafeInteger(len) || ptr < 0 || len < 0 || ptr + len > buffer.byteLength) {
      throw new InvalidArguments(`memory range [${ptr}, ${ptr}+${len}) is outside the guest's ${buffer.byteLength}-byte memory`);
    }
    return new Uint8Array(buffer, ptr, len);
  }

  readMemorySync(ptr: number, len: number): Uint8Array {
    return this.memoryView(ptr, len).slice();
  }

  writeMemorySync(ptr: number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new InvalidArguments('writeMemory expects a Uint8Array');
    this.memoryView(ptr, bytes.length).set(bytes);
  }

  async readMemory(ptr: number, len: number): Promise<Uint8Array> {
    return this.readMemorySync(ptr, len);
  }

  async writeMemory(ptr: number, bytes: Uint8Array): Promise<void> {
    this.writeMemorySync(ptr, bytes);
  }

  async runCommand(): Promise<number> {
    const wasi = this.p.wasi;
    if (!wasi) throw new FunctionNotFound('_start', [...this.functions.keys()]);
    if (typeof this.p.exports._start !== 'function') throw new FunctionNotFound('_start', [...this.functions.keys()]);
    return this.guardedSync(this.newGuard('_start'), () => wasi.start(this.p.instance));
  }

  output(): CapturedOutput {
    const wasi = this.p.wasi;
    return wasi ? { stdout: wasi.stdoutBytes(), stderr: wasi.stderrBytes() } : { stdout: EMPTY, stderr: EMPTY };
  }

  getFuel(): number | null {
    return this.p.meter?.getFuel() ?? null;
  }

  addFuel(units: number): void {
    if (!this.p.meter) throw new InvalidArguments('this instance has no fuel limit; set resourceLimits.cpu.fuel to meter it');
    this.p.meter.addFuel(units);
  }

  private throwNotReady(): never {
    if (this.state === 'destroyed') throw new InstanceNotFound(this.id);
    throw new InstanceUnusable(this.id, this.unusableReason);
  }

  private failed(err: unknown, name: string): WasmSandboxError {
    const error = SuspendError && err instanceof SuspendError
      ? new AsyncRequired(name, 'it reached an async host function through a synchronous call (a host function calling back into the guest); such calls cannot suspend')
      : toSandboxError(err, `call to '${name}'`, this.p.frames);
    if (error instanceof Trap) {
      this.p.counters.traps++;
      this.p.observer.onTrap?.(this.id, error);
    } else if (error instanceof ResourceLimitExceeded || error instanceof Timeout) {
      this.p.observer.onLimit?.(this.id, error);
    } else if (error instanceof SecurityViolation) {
      this.p.observer.onViolation?.(this.id, { capability: error.capability, detail: error.detail });
    }
    // A guest stopped mid-flight may hold broken invariants (locks, half-written state): never run it
    // again. Running out of fuel is the exception, as in wasmtime: the embedder may add fuel and go on;
    // so is an oversized payload, refused at the call boundary while the guest was not running.
    if (error instanceof Timeout || (error instanceof ResourceLimitExceeded && error.limit !== 'fuel' && error.limit !== 'payload-bytes')) {
      this.markUnusable(error.message);
    }
    return error;
  }

  markUnusable(reason: string): void {
    if (this.state === 'ready') {
      this.state = 'unusable';
      this.unusableReason = reason;
      for (const g of this.guards) g.ready = false;
      // It never runs again: its listeners and descriptors go now, not when it is destroyed (on a
      // worker thread that stopped its guest itself, the thread and its socket helper live on).
      this.p.wasi?.close();
    }
  }

  private memoryBytes(): number {
    let total = 0;
    for (const memory of this.p.memories) total += memory.buffer.byteLength;
    return total;
  }

  private trackPeak(): number {
    const now = this.memoryBytes();
    const routed = (this.p.grow?.peakPages ?? 0) * 65536;
    const peak = Math.max(now, routed);
    if (peak > this.p.counters.peakMemoryBytes) this.p.counters.peakMemoryBytes = peak;
    return now;
  }

  metrics(): InstanceMetrics {
    const memoryBytes = this.trackPeak();
    const io = this.p.wasi?.metrics();
    return {
      memoryBytes,
      peakMemoryBytes: this.p.counters.peakMemoryBytes,
      fuelConsumed: this.p.meter?.fuelConsumed() ?? 0,
      calls: this.guards.reduce((sum, g) => sum + g.calls, 0),
      traps: this.p.counters.traps,
      wallTimeMs: this.p.counters.wallTimeMs,
      cpuTimeMs: this.p.meter?.cpuTimeMs ?? this.p.counters.wallTimeMs,
      hostFunctionCalls: this.p.counters.hostFunctionCalls,
      openFileDescriptors: io?.openFileDescriptors ?? 0,
      bytesRead: io?.bytesRead ?? 0,
      bytesWritten: io?.bytesWritten ?? 0,
      networkConnections: io?.networkConnections ?? 0,
    };
  }

  async destroy(): Promise<void> {
    if (this.state === 'destroyed') return;
    liveInstances--;
    // Stopped by a limit or a deadline, the instance is not trusted to be reset; nor is one that grew.
    const recycle = this.p.slot !== undefined && this.state === 'ready';
    this.state = 'destroyed';
    for (const g of this.guards) g.ready = false;
    this.p.wasi?.close();
    const slot = this.p.slot;
    if (recycle && slot && slot.snapshot.restore()) slot.pool.give(slot);
  }
}

export interface InstanceOptions {
  /** Checkpoints every fuel slice even without clock limits, so that a thread termination takes effect (see Meter). */
  interruptible?: boolean;
  /** Maps a trap's frames from the instrumented module back to the module as given. */
  frames?: () => FrameMap;
  /** Makes the instance recyclable into this pool (InstanceConfig.recycle). */
  pool?: SlotPool<Slot>;
}

/** The size of each memory in index order as the instance starts: an imported one as given, a defined one as declared. */
function memoryPages(info: ModuleInfo, imports: WebAssembly.Imports): number[] {
  const pages: number[] = [];
  for (const imp of info.imports) {
    if (imp.kind !== 'memory') continue;
    const value = (imports[imp.module] as Record<string, unknown> | undefined)?.[imp.name];
    pages.push(value instanceof WebAssembly.Memory ? value.buffer.byteLength / WASM_PAGE_BYTES : (imp.memory?.min ?? 0));
  }
  for (const mem of info.memories) if (!mem.imported) pages.push(mem.min);
  return pages;
}

/** The memory limit is a total over the instance's memories, imported ones (the embedder's) included. */
function checkTotalMemory(pages: readonly number[], maxPages: number | null): void {
  if (maxPages === null) return;
  const total = pages.reduce((sum, p) => sum + p, 0);
  if (total > maxPages) {
    throw new ResourceLimitExceeded('memory', maxPages * WASM_PAGE_BYTES, total * WASM_PAGE_BYTES, `the instance's ${pages.length} memories start at ${total} pages together`);
  }
}

/**
 * Instances alive in this thread. V8 reserves 8 GiB of address space per wasm memory, so a process runs
 * out of address space at about 16,000 live memories; the count makes that failure explainable.
 */
let liveInstances = 0;

/** `InstanceConfig.initialize`: the embedder's init export, called like `_initialize`, within initialisation. */
function callInitExport(instance: WebAssembly.Instance, info: ModuleInfo, init: NonNullable<ResolvedInstanceConfig['initialize']>): void {
  const exp = info.exports.find((e) => e.name === init.function && e.kind === 'function');
  const fn = instance.exports[init.function];
  if (!exp?.signature || typeof fn !== 'function') {
    throw new FunctionNotFound(init.function, info.exports.filter((e) => e.kind === 'function').map((e) => e.name));
  }
  (fn as (...args: WasmValue[]) => unknown)(...argumentChecker(init.function, exp.signature)(init.args));
}

/** What each use of an instance gets afresh: its meter, grow policy, WASI host, Extism kernel, and the sandbox imports reaching them. */
interface Use {
  meter: Meter | undefined;
  grow: GrowPolicy | undefined;
  wasi: WasiHost | undefined;
  kernel: ExtismKernel | undefined;
  system: Record<string, Record<string, unknown>>;
}

/** A recyclable instance: the instance, its snapshot, and the holder its imports read the current use from. */
export interface Slot {
  instance: WebAssembly.Instance;
  info: ModuleInfo;
  functions: Map<string, FuncSignature>;
  memories: WebAssembly.Memory[];
  snapshot: StateSnapshot;
  current: { use: Use; hostCalls: number };
  pool: SlotPool<Slot>;
  suspending: boolean;
  /** Each memory's size in pages as the instance started, which the grow policy of every use counts from. */
  initialPages: number[];
  frames: (() => FrameMap) | undefined;
}

/** The grow policy of one use, counting from the memory sizes the instance started with. */
function growPolicyFor(id: string, limits: ResourceLimits, observer: RuntimeObserver, initialPages: number[]): GrowPolicy | undefined {
  return GrowPolicy.needed(limits) ? new GrowPolicy(limits, (error) => observer.onLimit?.(id, error), initialPages) : undefined;
}

/** A use's meter, WASI host, kernel and sandbox imports; its grow policy is set once the instance's initial memory is known. */
function freshUse(id: string, info: ModuleInfo, config: ResolvedInstanceConfig, observer: RuntimeObserver, interruptible: boolean): Use {
  const limits = config.resourceLimits;
  const meter = Meter.needed(limits, runsAtInit(info, config)) || interruptible ? new Meter(limits, DEFAULT_SLICE, interruptible) : undefined;
  const system: Record<string, Record<string, unknown>> = {};
  const use: Use = { meter, grow: undefined, wasi: undefined, kernel: undefined, system };
  system[RESERVED_IMPORT_MODULE] = {
    [OUT_OF_FUEL_IMPORT]: meter?.outOfFuel ?? (() => {}),
    [MEMORY_GROW_IMPORT]: (m: number, d: number, c: number) => use.grow?.memoryGrow(m, d, c) ?? 1,
    [ARRAY_TOO_LARGE_IMPORT]: (length: number) => {
      throw new ResourceLimitExceeded('memory', MAX_GC_ARRAY_ELEMENTS, length >>> 0, 'elements in one wasm-GC array allocation; a larger one could abort the process');
    },
  };
  const stdin = config.wasi.stdin;
  if (isStdinStream(stdin)) {
    throw new InvalidArguments('a streamed stdin (an async iterable) needs the worker runtime: on the in-process runtime the guest would block the event loop that produces it; pass the bytes instead');
  }
  if (info.wasi === 'preview1') {
    const wasi = new WasiHost({
      capabilities: config.capabilities,
      resourceLimits: limits,
      programName: config.wasi.programName,
      stdin,
      onStdout: config.wasi.onStdout,
      onStderr: config.wasi.onStderr,
      checkInterrupt: meter ? () => meter.checkClock() : undefined,
      chargeWork: meter ? (bytes) => meter.chargeBytes(bytes) : undefined,
      remainingMs: meter ? () => meter.remainingMs() : undefined,
      onViolation: (v) => observer.onViolation?.(id, v),
      onLimit: (error) => observer.onLimit?.(id, error),
      listeners: config.wasi.listeners,
      onListening: config.wasi.onListening,
    });
    use.wasi = wasi;
    for (const name of ['wasi_snapshot_preview1', 'wasi_unstable'] as const) {
      const names = info.imports.filter((i) => i.module === name).map((i) => i.name);
      if (names.length > 0) system[name] = wasi.importsFor(name, names);
    }
  }
  if (info.imports.some((i) => i.module === EXTISM_MODULE)) {
    const kernel = new ExtismKernel(config.extism, { maxPayloadBytes: limits.io.maxPayloadBytes, maxHeapBytes: limits.memory.maxMemoryBytes });
    use.kernel = kernel;
    system[EXTISM_MODULE] = kernel.imports;
  }
  return use;
}

/** Imports that call whatever use is current, counting the calls that are not the sandbox's own. */
function forwardTo(current: { use: Use; hostCalls: number }, system: Record<string, Record<string, unknown>>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [mod, fns] of Object.entries(system)) {
    const counted = mod !== RESERVED_IMPORT_MODULE;
    out[mod] = Object.fromEntries(Object.keys(fns).map((name) => [name, (...args: unknown[]) => {
      if (counted) current.hostCalls++;
      return (current.use.system[mod][name] as (...a: unknown[]) => unknown)(...args);
    }]));
  }
  return out;
}

function instantiationError(err: unknown, info: ModuleInfo, frames: (() => FrameMap) | undefined): WasmSandboxError {
  if (err instanceof WasmSandboxError) return err;
  if (err instanceof WebAssembly.LinkError) {
    // V8 names the import by its index: "Import #3 \"env\" \"mem\": memory import has 1 pages which is smaller than the declared initial of 2".
    const index = /Import #(\d+)/.exec(err.message)?.[1];
    const imp = index === undefined ? undefined : info.imports[Number(index)];
    const what = imp ? `the value given for import '${imp.module}.${imp.name}' (${imp.kind}) does not fit its declaration` : 'an import does not fit its declaration';
    return new InvalidModule(`the module cannot be linked: ${what}: ${err.message}`, { cause: err });
  }
  if (err instanceof RangeError && /memory|allocat/i.test(err.message)) {
    return new ResourceLimitExceeded('instances', liveInstances, liveInstances + 1,
      `the engine could not reserve memory for another instance (${err.message}); each wasm memory reserves 8 GiB of address space, so one process holds about 16,000 live instances: destroy unused ones or spread across processes`);
  }
  return toSandboxError(err, 'start function', frames);
}
