import { instrument, type InstrumentOptions } from '../../module/instrument.ts';
import { compileModule } from '../../module/compile.ts';
import { CopyRecorder, FrameMap } from '../../module/frame-map.ts';
import { inspect } from '../../module/inspect.ts';
import type { ModuleInfo } from '../../module/module-info.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import type { ResolvedInstanceConfig } from '../types.ts';
import { GrowPolicy } from './grow-policy.ts';
import type { InstrumentedStore } from './instrumented-store.ts';
import { Meter } from './meter.ts';

/** Whether instantiating runs guest code: a start function, a reactor's `_initialize`, or the embedder's init export. */
export function runsAtInit(info: ModuleInfo, config: Pick<ResolvedInstanceConfig, 'initialize'>): boolean {
  return info.startFunction !== null || config.initialize !== undefined || info.exports.some((e) => e.name === '_initialize' && e.kind === 'function');
}

/**
 * Table elements one instance may hold in all, whatever the limits say: tables live on the host's JS
 * heap, which no user limit may exhaust (it is fatal for the whole process). V8's own limit for one
 * table is the same number.
 */
export const HOST_MAX_TABLE_ELEMENTS = 10_000_000;

/**
 * Elements one wasm-GC array allocation may have on a worker thread. V8 stops a thread that exhausts
 * its heap cleanly only when the failing allocation is small (Node's grace is 16 MB); one far past the
 * limit aborts the whole process. 2^19 elements of at most 16 bytes stay under 8 MiB.
 */
export const MAX_GC_ARRAY_ELEMENTS = 1 << 19;

export interface PlanOptions {
  /** Meter even when no limit needs it (fuel is then counted, and checkpoints come every slice). */
  alwaysMeter?: boolean;
  /** The module has tables: they are then bounded by HOST_MAX_TABLE_ELEMENTS even without a limit. */
  hasTables?: boolean;
  /** Cap GC array allocations at MAX_GC_ARRAY_ELEMENTS (the runtime accepts GC). */
  capArrays?: boolean;
  /** Whether instantiating runs guest code (see runsAtInit): only then does initTimeoutMs alone need a meter. Default true. */
  initCode?: boolean;
}

/** The instrumentation a set of limits needs, or null when the module can run as it is (see `Meter.needed`). */
export function instrumentationFor(limits: ResourceLimits, plan: PlanOptions = {}): InstrumentOptions | null {
  const meter = plan.alwaysMeter === true || Meter.needed(limits, plan.initCode ?? true);
  const routeMemoryGrow = GrowPolicy.needed(limits);
  const memoryMaxPages = limits.maxPages ?? undefined;
  const userTables = limits.memory.maxTableElements;
  const tableMaxElements = userTables !== null ? Math.min(userTables, HOST_MAX_TABLE_ELEMENTS) : plan.hasTables ? HOST_MAX_TABLE_ELEMENTS : undefined;
  const maxArrayElements = plan.capArrays ? MAX_GC_ARRAY_ELEMENTS : undefined;
  if (!meter && !routeMemoryGrow && memoryMaxPages === undefined && tableMaxElements === undefined && maxArrayElements === undefined) return null;
  return { meter, routeMemoryGrow, memoryMaxPages, tableMaxElements, ...(maxArrayElements === undefined ? {} : { maxArrayElements }) };
}

export interface PreparedModule {
  module: WebAssembly.Module;
  info: ModuleInfo;
  /** Maps the compiled module's frames back to the module as given; made on first use, as only a trap needs it. */
  frames: () => FrameMap;
}

/** The frames of a module that runs as it was given. */
export const identityFrames = (): FrameMap => FrameMap.identity;

function lazyFrameMap(bytes: Uint8Array, options: InstrumentOptions): () => FrameMap {
  let map: FrameMap | undefined;
  return () => {
    if (!map) {
      // The rewrite is a pure function of (bytes, options): running it again reproduces the module compiled.
      const recorder = new CopyRecorder();
      instrument(bytes, options, recorder);
      map = recorder.finish();
    }
    return map;
  };
}

/**
 * Instrumented variants of one module, compiled once per distinct set of options: instances created
 * under the same limits share the rewritten, compiled code. With a store, the rewritten bytes also
 * outlive the process.
 */
export class InstrumentationCache {
  private readonly bytes: Uint8Array;
  private readonly store: InstrumentedStore | undefined;
  private readonly variants = new Map<string, Promise<PreparedModule>>();

  constructor(bytes: Uint8Array, store?: InstrumentedStore) {
    this.bytes = bytes;
    this.store = store;
  }

  get(options: InstrumentOptions): Promise<PreparedModule> {
    const key = JSON.stringify(options);
    let variant = this.variants.get(key);
    if (!variant) {
      variant = (async () => {
        const frames = lazyFrameMap(this.bytes, options);
        const stored = this.store?.get(this.bytes, options);
        if (stored) return { module: await compileModule(stored.bytes), info: stored.info, frames };
        const { bytes } = instrument(this.bytes, options);
        const prepared = { module: await compileModule(bytes), info: inspect(bytes), frames };
        this.store?.put(this.bytes, options, { bytes, info: prepared.info });
        return prepared;
      })();
      // A failed variant (e.g. initial memory over the limit) must not be cached as a rejection forever.
      variant.catch(() => this.variants.delete(key));
      this.variants.set(key, variant);
    }
    return variant;
  }

  clear(): void {
    this.variants.clear();
  }
}
