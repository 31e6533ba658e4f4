import { InvalidModule, ResourceLimitExceeded } from '../../errors.ts';
import { compileModule } from '../../module/compile.ts';
import type { ModuleInfo } from '../../module/module-info.ts';
import { WASM_PAGE_BYTES } from '../../security/resource-limits.ts';
import type { ResolvedInstanceConfig, RuntimeObserver, WasmInstance, WasmModule, WasmRuntime } from '../types.ts';
import { InProcessInstance } from './inprocess-instance.ts';
import { identityFrames, InstrumentationCache, instrumentationFor, runsAtInit } from '../limits/instrumentation-plan.ts';
import type { InstrumentedStore } from '../limits/instrumented-store.ts';
import { recyclable, SlotPool } from './recycled-slot.ts';
import type { Slot } from './inprocess-instance.ts';

/**
 * Runs guests on the caller's thread, in the caller's V8 isolate: the fastest runtime, with calls that
 * cost a few nanoseconds over a raw export call. Containment comes from what the guest is linked
 * against and from instrumentation, not from a thread boundary.
 */
export class InProcessRuntime implements WasmRuntime {
  readonly kind = 'inprocess' as const;
  private readonly observer: RuntimeObserver;
  private readonly store: InstrumentedStore | undefined;

  constructor(observer: RuntimeObserver = {}, store?: InstrumentedStore) {
    this.observer = observer;
    this.store = store;
  }

  async compile(bytes: Uint8Array, info: ModuleInfo): Promise<WasmModule> {
    let module: WebAssembly.Module;
    try {
      module = await compileModule(bytes);
    } catch (err) {
      throw new InvalidModule(`module failed validation: ${(err as Error).message}`, { cause: err });
    }
    return new InProcessModule(module, bytes, info, this.observer, this.store);
  }

  async close(): Promise<void> {}
}

class InProcessModule implements WasmModule {
  readonly info: ModuleInfo;
  private readonly module: WebAssembly.Module;
  private readonly observer: RuntimeObserver;
  private readonly variants: InstrumentationCache;
  private readonly recyclable: boolean;
  /** Idle recycled instances per instrumentation variant. */
  private readonly pools = new Map<string, SlotPool<Slot>>();

  constructor(module: WebAssembly.Module, bytes: Uint8Array, info: ModuleInfo, observer: RuntimeObserver, store: InstrumentedStore | undefined) {
    this.module = module;
    this.info = info;
    this.observer = observer;
    // The caller may reuse its buffer; instrumentation reads the bytes later.
    this.variants = new InstrumentationCache(bytes.slice(), store);
    this.recyclable = recyclable(info, bytes);
  }

  async instantiate(instanceId: string, config: ResolvedInstanceConfig): Promise<WasmInstance> {
    checkInitialMemory(this.info, config);
    const plan = instrumentationFor(config.resourceLimits, { hasTables: this.info.tables.length > 0, initCode: runsAtInit(this.info, config) });
    // An embedder's init export runs at instantiation, so a recycled slot would skip it: instantiate anew.
    if (config.recycle && this.recyclable && config.initialize === undefined) {
      // Recycling needs the whole state exported to snapshot it, limits or not.
      const options = { ...(plan ?? { meter: false, routeMemoryGrow: false }), exportState: true };
      const key = JSON.stringify(options);
      let pool = this.pools.get(key);
      if (!pool) this.pools.set(key, (pool = new SlotPool<Slot>()));
      const idle = pool.take();
      if (idle) return InProcessInstance.renew(idle, instanceId, config, this.observer);
      const prepared = await this.variants.get(options);
      return InProcessInstance.create(instanceId, prepared.module, prepared.info, config, this.observer, { frames: prepared.frames, pool });
    }
    const prepared = plan ? await this.variants.get(plan) : { module: this.module, info: this.info, frames: identityFrames };
    return InProcessInstance.create(instanceId, prepared.module, prepared.info, config, this.observer, { frames: prepared.frames });
  }

  dispose(): void {
    this.variants.clear();
    for (const pool of this.pools.values()) pool.clear();
  }
}

/**
 * Refuses before allocating: a module asking for more initial memory than allowed never gets it. The
 * limit is a total over the instance's memories (declared initial sizes here; growth is checked on
 * every grow).
 */
export function checkInitialMemory(info: ModuleInfo, config: ResolvedInstanceConfig): void {
  const maxPages = config.resourceLimits.maxPages;
  if (maxPages === null) return;
  const total = info.memories.reduce((sum, mem) => sum + mem.min, 0);
  if (total > maxPages) {
    const what = info.memories.length === 1 ? `the module's ${info.memories[0].imported ? 'imported' : 'declared'} memory starts` : `the module's ${info.memories.length} memories start`;
    throw new ResourceLimitExceeded('memory', maxPages * WASM_PAGE_BYTES, total * WASM_PAGE_BYTES, `${what} at ${total} pages`);
  }
}
