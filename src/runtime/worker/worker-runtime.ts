/**
 * Runs each instance on its own worker thread. Calls cost a few microseconds more than in-process,
 * and in exchange a guest can be stopped at a hard deadline even inside a loop that never calls out,
 * and cannot take the host down by exhausting its stack or heap: the thread is simply terminated.
 */
import { InvalidArguments, InvalidModule, SandboxClosed } from '../../errors.ts';
import type { ModuleInfo } from '../../module/module-info.ts';
import { ResourceLimits } from '../../security/resource-limits.ts';
import { checkInitialMemory } from '../inprocess/inprocess-runtime.ts';
import type { ResolvedInstanceConfig, RuntimeObserver, WasmInstance, WasmModule, WasmRuntime } from '../types.ts';
import { exportConfig } from './config-transfer.ts';
import { WorkerInstance } from './worker-instance.ts';
import { workerLimits } from './worker-limits.ts';
import { WorkerPool } from './worker-pool.ts';

export interface WorkerRuntimeOptions {
  /**
   * Started, idle threads kept for each set of limits in use (default 1), so that creating an instance
   * skips the thread start. 0 starts a thread for every instance.
   */
  poolSize?: number;
}

const MAX_POOL_SIZE = 64;

export class WorkerRuntime implements WasmRuntime {
  readonly kind = 'worker' as const;
  private readonly observer: RuntimeObserver;
  private readonly pool: WorkerPool;
  private warmed = false;
  private closed = false;

  constructor(observer: RuntimeObserver = {}, options: WorkerRuntimeOptions = {}) {
    const poolSize = options.poolSize ?? 1;
    if (!Number.isInteger(poolSize) || poolSize < 0 || poolSize > MAX_POOL_SIZE) {
      throw new InvalidArguments(`poolSize must be an integer from 0 to ${MAX_POOL_SIZE}, got ${String(poolSize)}`);
    }
    this.observer = observer;
    this.pool = new WorkerPool(poolSize);
  }

  /** Compiles once, here; instances receive the compiled module, which threads share without recompiling. */
  async compile(bytes: Uint8Array, info: ModuleInfo): Promise<WasmModule> {
    if (this.closed) throw new SandboxClosed();
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    } catch (err) {
      throw new InvalidModule(`module failed validation: ${(err as Error).message}`, { cause: err });
    }
    // The first module is the sign that instances will follow: start warming threads for the default limits.
    if (!this.warmed) {
      this.warmed = true;
      this.pool.warm(workerLimits(ResourceLimits.default()));
    }
    return new WorkerModule(module, info, this.pool, this.observer);
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

  constructor(module: WebAssembly.Module, info: ModuleInfo, pool: WorkerPool, observer: RuntimeObserver) {
    this.module = module;
    this.info = info;
    this.pool = pool;
    this.observer = observer;
  }

  async instantiate(instanceId: string, config: ResolvedInstanceConfig): Promise<WasmInstance> {
    checkInitialMemory(this.info, config);
    const { portable, hostFunctions } = exportConfig(config, this.info);
    const thread = await this.pool.acquire(workerLimits(config.resourceLimits));
    return WorkerInstance.create(
      { id: instanceId, info: this.info, thread, pool: this.pool, portable, hostFunctions, time: config.resourceLimits.time, observer: this.observer },
      this.module,
    );
  }

  dispose(): void {}
}
