import { FunctionNotFound, InstanceNotFound, InstanceUnusable, ResourceLimitExceeded, Timeout, Trap, WasmSandboxError } from '../../errors.ts';
import type { FuncSignature, ModuleInfo } from '../../module/module-info.ts';
import { argumentChecker, compiledHandle, type CallGuard } from '../arguments.ts';
import { InstanceHostContext } from '../host-context.ts';
import { linkImports, type LinkCounters } from '../linker.ts';
import { toSandboxError } from '../traps.ts';
import type { InstanceMetrics, ResolvedInstanceConfig, RuntimeObserver, SyncCall, WasmInstance, WasmResult, WasmValue } from '../types.ts';

type State = 'ready' | 'unusable' | 'destroyed';

export class InProcessInstance implements WasmInstance {
  readonly id: string;
  readonly functions: ReadonlyMap<string, FuncSignature>;
  private readonly exports: WebAssembly.Exports;
  private readonly memories: WebAssembly.Memory[];
  private readonly observer: RuntimeObserver;
  private readonly handles = new Map<string, SyncCall>();
  // One guard per handle keeps the hot path free of shared-state writes beyond its own counter.
  private readonly guards: CallGuard[] = [];
  private readonly counters: LinkCounters & { traps: number; wallTimeMs: number; peakMemoryBytes: number };
  private state: State = 'ready';
  private unusableReason = '';

  private constructor(id: string, exports: WebAssembly.Exports, functions: Map<string, FuncSignature>, counters: InProcessInstance['counters'], observer: RuntimeObserver) {
    this.id = id;
    this.exports = exports;
    this.functions = functions;
    this.counters = counters;
    this.observer = observer;
    this.memories = Object.values(exports).filter((v): v is WebAssembly.Memory => v instanceof WebAssembly.Memory);
  }

  static create(id: string, module: WebAssembly.Module, info: ModuleInfo, config: ResolvedInstanceConfig, observer: RuntimeObserver): InProcessInstance {
    const counters = { hostFunctionCalls: 0, traps: 0, wallTimeMs: 0, peakMemoryBytes: 0 };
    let self: InProcessInstance | undefined;
    const ctx = new InstanceHostContext(id, (name, args) => {
      if (!self) throw new Trap('host-error', 'a host function called back into the guest before instantiation finished');
      return self.callSync(name, args);
    });
    const imports = linkImports(info, config, ctx, counters);
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module, imports);
    } catch (err) {
      throw instantiationError(err);
    }
    ctx.attach(instance.exports);
    const functions = new Map<string, FuncSignature>();
    for (const exp of info.exports) {
      if (exp.kind === 'function' && exp.signature) functions.set(exp.name, exp.signature);
    }
    self = new InProcessInstance(id, instance.exports, functions, counters, observer);
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

  private makeHandle(name: string): SyncCall {
    const sig = this.functions.get(name);
    const fn = this.exports[name];
    if (!sig || typeof fn !== 'function') throw new FunctionNotFound(name, [...this.functions.keys()]);
    const guard: CallGuard = {
      ready: this.state === 'ready',
      enter: () => this.throwNotReady(),
      fail: (err) => this.failed(err, name),
      calls: 0,
    };
    this.guards.push(guard);
    const fast = compiledHandle(name, sig, fn, guard);
    if (fast) return fast as SyncCall;
    const check = argumentChecker(name, sig);
    const f = fn as (...a: WasmValue[]) => WasmResult;
    return (...args: WasmValue[]): WasmResult => {
      if (!guard.ready) guard.enter();
      const checked = check(args);
      guard.calls++;
      try {
        return f(...checked);
      } catch (err) {
        throw guard.fail(err);
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
      this.counters.wallTimeMs += performance.now() - start;
      this.trackPeak();
    }
  }

  private throwNotReady(): never {
    if (this.state === 'destroyed') throw new InstanceNotFound(this.id);
    throw new InstanceUnusable(this.id, this.unusableReason);
  }

  private failed(err: unknown, name: string): WasmSandboxError {
    const error = toSandboxError(err, `call to '${name}'`);
    if (error instanceof Trap) {
      this.counters.traps++;
      this.observer.onTrap?.(this.id, error);
    } else if (error instanceof ResourceLimitExceeded) {
      this.observer.onLimit?.(this.id, error);
    }
    // A guest stopped mid-flight may hold broken invariants (locks, half-written state): never run it again.
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
    for (const memory of this.memories) total += memory.buffer.byteLength;
    return total;
  }

  private trackPeak(): number {
    const now = this.memoryBytes();
    if (now > this.counters.peakMemoryBytes) this.counters.peakMemoryBytes = now;
    return now;
  }

  metrics(): InstanceMetrics {
    const memoryBytes = this.trackPeak();
    return {
      memoryBytes,
      peakMemoryBytes: this.counters.peakMemoryBytes,
      fuelConsumed: 0,
      calls: this.guards.reduce((sum, g) => sum + g.calls, 0),
      traps: this.counters.traps,
      wallTimeMs: this.counters.wallTimeMs,
      cpuTimeMs: 0,
      hostFunctionCalls: this.counters.hostFunctionCalls,
      openFileDescriptors: 0,
      bytesRead: 0,
      bytesWritten: 0,
    };
  }

  async destroy(): Promise<void> {
    this.state = 'destroyed';
    for (const g of this.guards) g.ready = false;
  }
}

function instantiationError(err: unknown): WasmSandboxError {
  if (err instanceof WasmSandboxError) return err;
  if (err instanceof WebAssembly.LinkError) {
    return new Trap('unknown', `instantiation failed to link: ${err.message}`, { cause: err });
  }
  if (err instanceof RangeError && /memory|allocat/i.test(err.message)) {
    return new ResourceLimitExceeded('memory', 0, 0, `the engine could not allocate the module's memory: ${err.message}`);
  }
  return toSandboxError(err, 'start function');
}
