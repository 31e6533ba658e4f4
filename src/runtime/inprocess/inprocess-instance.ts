import { FunctionNotFound, InstanceNotFound, InstanceUnusable, InvalidArguments, ResourceLimitExceeded, SecurityViolation, Timeout, Trap, WasmSandboxError } from '../../errors.ts';
import { FUEL_EXPORT, MEMORY_GROW_IMPORT, OUT_OF_FUEL_IMPORT, RESERVED_IMPORT_MODULE } from '../../module/instrument.ts';
import type { FuncSignature, ModuleInfo } from '../../module/module-info.ts';
import { WasiHost } from '../../wasi/wasi-host.ts';
import { argumentChecker, compiledHandle, type CallGuard } from '../arguments.ts';
import { InstanceHostContext } from '../host-context.ts';
import { GrowPolicy } from '../limits/grow-policy.ts';
import { Meter } from '../limits/meter.ts';
import { linkImports, type LinkCounters } from '../linker.ts';
import { toSandboxError } from '../traps.ts';
import type { CapturedOutput, InstanceMetrics, ResolvedInstanceConfig, RuntimeObserver, SyncCall, WasmInstance, WasmResult, WasmValue } from '../types.ts';

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
}

export class InProcessInstance implements WasmInstance {
  readonly id: string;
  readonly functions: ReadonlyMap<string, FuncSignature>;
  private readonly p: Parts;
  private readonly handles = new Map<string, SyncCall>();
  // One guard per handle keeps the hot path free of shared-state writes beyond its own counter.
  private readonly guards: CallGuard[] = [];
  private state: State = 'ready';
  private unusableReason = '';

  private constructor(parts: Parts) {
    this.p = parts;
    this.id = parts.id;
    this.functions = parts.functions;
  }

  /**
   * Links and instantiates. `info` describes `module` as compiled (after instrumentation, so it lists
   * the sandbox's own imports); the start function already runs under the meter.
   */
  static create(id: string, module: WebAssembly.Module, info: ModuleInfo, config: ResolvedInstanceConfig, observer: RuntimeObserver): InProcessInstance {
    const limits = config.resourceLimits;
    const counters = { hostFunctionCalls: 0, traps: 0, wallTimeMs: 0, peakMemoryBytes: 0 };
    const meter = Meter.needed(limits) ? new Meter(limits) : undefined;
    const grow = GrowPolicy.needed(limits) ? new GrowPolicy(limits, (error) => observer.onLimit?.(id, error)) : undefined;
    const system: Record<string, Record<string, unknown>> = {
      [RESERVED_IMPORT_MODULE]: { [OUT_OF_FUEL_IMPORT]: meter?.outOfFuel ?? (() => {}), [MEMORY_GROW_IMPORT]: grow?.memoryGrow ?? (() => 1) },
    };
    let wasi: WasiHost | undefined;
    if (info.wasi === 'preview1') {
      wasi = new WasiHost({
        capabilities: config.capabilities,
        resourceLimits: limits,
        programName: config.wasi.programName,
        stdin: config.wasi.stdin,
        onStdout: config.wasi.onStdout,
        onStderr: config.wasi.onStderr,
        checkInterrupt: meter ? () => meter.checkClock() : undefined,
        remainingMs: meter ? () => meter.remainingMs() : undefined,
        onViolation: (v) => observer.onViolation?.(id, v),
      });
      const host = wasi;
      for (const name of ['wasi_snapshot_preview1', 'wasi_unstable'] as const) {
        if (info.imports.some((i) => i.module === name)) system[name] = host.imports[name];
      }
    }
    let self: InProcessInstance | undefined;
    const ctx = new InstanceHostContext(id, (name, args) => {
      if (!self) throw new Trap('host-error', 'a host function called back into the guest before instantiation finished');
      return self.callSync(name, args);
    });
    const imports = linkImports(info, config, ctx, counters, system);
    checkImportedMemories(imports, limits.maxPages);
    let instance: WebAssembly.Instance;
    meter?.enter();
    try {
      instance = new WebAssembly.Instance(module, imports);
      const counter = instance.exports[FUEL_EXPORT];
      if (meter && counter instanceof WebAssembly.Global) meter.bind(counter);
      ctx.attach(instance.exports);
      // Reactors need their constructors run before any export is called, WASI or not.
      if (wasi) wasi.initialize(instance);
      else if (typeof instance.exports._initialize === 'function') (instance.exports._initialize as () => void)();
    } catch (err) {
      wasi?.close();
      throw instantiationError(err);
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
    liveInstances++;
    self = new InProcessInstance({ id, exports: instance.exports, instance, functions, counters, observer, memories, meter, grow, wasi });
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
    return this.syncHandle(name)(...args);
  }

  async call(name: string, args: readonly WasmValue[]): Promise<WasmResult> {
    const handle = this.syncHandle(name);
    const start = performance.now();
    try {
      return handle(...args);
    } finally {
      this.p.counters.wallTimeMs += performance.now() - start;
      this.trackPeak();
    }
  }

  async runCommand(): Promise<number> {
    const wasi = this.p.wasi;
    if (!wasi) throw new FunctionNotFound('_start', [...this.functions.keys()]);
    if (typeof this.p.exports._start !== 'function') throw new FunctionNotFound('_start', [...this.functions.keys()]);
    const guard = this.newGuard('_start');
    if (!guard.ready) guard.enter();
    guard.calls++;
    const start = performance.now();
    this.p.meter?.enter();
    try {
      return wasi.start(this.p.instance);
    } catch (err) {
      throw guard.fail(err);
    } finally {
      this.p.meter?.exit();
      this.p.counters.wallTimeMs += performance.now() - start;
      this.trackPeak();
    }
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
    const error = toSandboxError(err, `call to '${name}'`);
    if (error instanceof Trap) {
      this.p.counters.traps++;
      this.p.observer.onTrap?.(this.id, error);
    } else if (error instanceof ResourceLimitExceeded || error instanceof Timeout) {
      this.p.observer.onLimit?.(this.id, error);
    } else if (error instanceof SecurityViolation) {
      this.p.observer.onViolation?.(this.id, { capability: error.capability, detail: error.detail });
    }
    // A guest stopped mid-flight may hold broken invariants (locks, half-written state): never run it
    // again. Running out of fuel is the exception, as in wasmtime: the embedder may add fuel and go on.
    if (error instanceof Timeout || (error instanceof ResourceLimitExceeded && error.limit !== 'fuel')) {
      this.markUnusable(error.message);
    }
    return error;
  }

  markUnusable(reason: string): void {
    if (this.state === 'ready') {
      this.state = 'unusable';
      this.unusableReason = reason;
      for (const g of this.guards) g.ready = false;
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
    };
  }

  async destroy(): Promise<void> {
    if (this.state === 'destroyed') return;
    liveInstances--;
    this.state = 'destroyed';
    for (const g of this.guards) g.ready = false;
    this.p.wasi?.close();
  }
}

/** An imported memory is the embedder's, but it must still fit the instance's limit. */
function checkImportedMemories(imports: WebAssembly.Imports, maxPages: number | null): void {
  if (maxPages === null) return;
  for (const mod of Object.values(imports)) {
    for (const value of Object.values(mod as Record<string, unknown>)) {
      if (value instanceof WebAssembly.Memory && value.buffer.byteLength > maxPages * 65536) {
        throw new ResourceLimitExceeded('memory', maxPages * 65536, value.buffer.byteLength, 'an imported memory is already larger than the limit');
      }
    }
  }
}

/**
 * Instances alive in this thread. V8 reserves 8 GiB of address space per wasm memory, so a process runs
 * out of address space at about 16,000 live memories; the count makes that failure explainable.
 */
let liveInstances = 0;

function instantiationError(err: unknown): WasmSandboxError {
  if (err instanceof WasmSandboxError) return err;
  if (err instanceof WebAssembly.LinkError) {
    return new Trap('unknown', `instantiation failed to link: ${err.message}`, { cause: err });
  }
  if (err instanceof RangeError && /memory|allocat/i.test(err.message)) {
    return new ResourceLimitExceeded('instances', liveInstances, liveInstances + 1,
      `the engine could not reserve memory for another instance (${err.message}); each wasm memory reserves 8 GiB of address space, so one process holds about 16,000 live instances: destroy unused ones or spread across processes`);
  }
  return toSandboxError(err, 'start function');
}
