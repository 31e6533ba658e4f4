/**
 * Runs each instance on its own worker thread. Calls cost a few microseconds more than in-process;
 * in exchange a guest is stopped at a hard deadline even inside a loop that never calls out (the
 * thread is terminated), and cannot take the host down by exhausting its stack or heap.
 */
import { InvalidArguments, InvalidModule, SandboxClosed } from '../../errors.ts';
import type { ModuleInfo } from '../../module/module-info.ts';
import { ResourceLimits } from '../../security/resource-limits.ts';
import { checkInitialMemory } from '../inprocess/inprocess-runtime.ts';
import { identityFrames, InstrumentationCache, instrumentationFor } from '../limits/instrumentation-plan.ts';
import type { ResolvedInstanceConfig, RuntimeObserver, WasmInstance, WasmModule, WasmRuntime } from '../types.ts';
import { exportConfig } from './config-transfer.ts';
import { WorkerInstance } from './worker-instance.ts';
import { limitsInWorker, workerLimits } from './worker-limits.ts';
import { WorkerPool } from './worker-pool.ts';
import type { InstrumentedStore } from '../limits/instrumented-store.ts';

export interface WorkerRuntimeOptions {
  /**
   * Started, idle threads kept for each set of limits in use (default 1), so that creating an instance
   * skips the thread start. Threads that come back beyond it are kept too while concurrent instances
   * need them, until they have been idle a few seconds. 0 starts a thread for every instance.
   */
  poolSize?: number;
  /** Keeps instrumented modules between processes (see `SandboxOptions.cacheDir`). */
  store?: InstrumentedStore;
}

const MAX_POOL_SIZE = 64;

export class WorkerRuntime implements WasmRuntime {
  readonly kind = 'worker' as const;
  private readonly observer: RuntimeObserver;
  private readonly pool: WorkerPool;
  private readonly store: InstrumentedStore | undefined;
  private warmed = false;
  private closed = false;

  constructor(observer: RuntimeObserver = {}, options: WorkerRuntimeOptions = {}) {
    const poolSize = options.poolSize ?? 1;
    if (!Number.isInteger(poolSize) || poolSize < 0 || poolSize > MAX_POOL_SIZE) {
      throw new InvalidArguments(`poolSize must be an integer from 0 to ${MAX_POOL_SIZE}, got ${String(poolSize)}`);
    }
    this.observer = observer;
    this.pool = new WorkerPool(poolSize);
    this.store = options.store;
  }

  /** Compiles here, once; threads receive the compiled module, which they share without recompiling. */
  async compile(bytes: Uint8Array, info: ModuleInfo): Promise<WasmModule> {
    if (this.closed) throw new SandboxClosed();
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    } catch (err) {
      throw new InvalidModule(`module failed validation: ${(err as Error).message}`, { cause: err });
    }
    // The first module is the sign that instances will follow: warm threads for the default limits.
    if (!this.warmed) {
      this.warmed = true;
      this.pool.warm(workerLimits(ResourceLimits.default()));
    }
    return new WorkerModule(module, bytes, info, this.pool, this.observer, this.store);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close();
  }
}

class WorkerModule implements WasmModule {
  readonly info: ModuleInfo;
  private readonly module: WebAssembly.Module;
  private readonly pool: WorkerPool;
  private readonly observer: RuntimeObserver;
  private readonly variants: InstrumentationCache;

  constructor(module: WebAssembly.Module, bytes: Uint8Array, info: ModuleInfo, pool: WorkerPool, observer: RuntimeObserver, store: InstrumentedStore | undefined) {
    this.module = module;
    this.info = info;
    this.pool = pool;
    this.observer = observer;
    // The caller may reuse its buffer; instrumentation reads the bytes later.
    this.variants = new InstrumentationCache(bytes.slice(), store);
  }

  async instantiate(instanceId: string, config: ResolvedInstanceConfig): Promise<WasmInstance> {
    checkInitialMemory(this.info, config);
    const limits = config.resourceLimits;
    // The thread stops a guest at its call deadline itself, keeping the thread (see IN_THREAD_GRACE_MS).
    const enforced = limitsInWorker(limits, { callDeadline: true });
    // Always metered on a thread: fuel is counted as in-process, and the guest reaches host code every
    // slice, where a termination at its deadline takes effect even in a loop of bulk instructions.
    const plan = instrumentationFor(enforced, { alwaysMeter: true, hasTables: this.info.tables.length > 0, capArrays: true });
    const prepared = plan ? await this.variants.get(plan) : { module: this.module, info: this.info, frames: identityFrames };
    const { portable, hostFunctions } = exportConfig(config, this.info, enforced);
    const thread = await this.pool.acquire(workerLimits(limits));
    const instance = await WorkerInstance.create(
      { id: instanceId, info: this.info, thread, pool: this.pool, config, portable, hostFunctions, observer: this.observer, frames: prepared.frames },
      prepared.module,
      prepared.info,
    );
    this.pool.settled(thread);
    return instance;
  }

  dispose(): void {
    this.variants.clear();
  }
}
