/**
 * The wasm feature policy: for every proposal the sandbox knows, whether each runtime accepts it and
 * how its risks are bounded there (like wasmtime's `Config::wasm_*`). This table is the one place that
 * decides; docs/instrumentation.md shows it. A module is checked against its runtime's set when it is
 * loaded, before it is compiled.
 */
import { InvalidArguments, InvalidModule } from '../errors.ts';
import { detectFeatures, WASM_FEATURES, type WasmFeature } from '../module/features.ts';
import type { RuntimeKind } from './types.ts';

/** How one runtime treats one proposal. */
export interface FeatureSupport {
  /** Whether modules using it are accepted. */
  readonly accepted: boolean;
  /** Why it is refused, or what bounds it when accepted. */
  readonly bound: string;
}

/** How both runtimes treat one proposal. */
export interface FeatureEntry {
  /** The proposal's name as the WebAssembly CG spells it. */
  readonly proposal: string;
  /** On the in-process runtime. */
  readonly inprocess: FeatureSupport;
  /** On the worker runtime. */
  readonly worker: FeatureSupport;
}

const ok = (bound: string): FeatureSupport => ({ accepted: true, bound });
const refused = (bound: string): FeatureSupport => ({ accepted: false, bound });
const both = (bound: string): Pick<FeatureEntry, 'inprocess' | 'worker'> => ({ inprocess: ok(bound), worker: ok(bound) });

/** What each runtime accepts, and why. Users may narrow it per sandbox, never widen it. */
export const FEATURE_POLICY: Readonly<Record<WasmFeature, FeatureEntry>> = {
  threads: {
    proposal: 'threads (shared memory, atomics)',
    inprocess: refused('memory.atomic.wait32/64 on a shared memory blocks the calling thread, and no deadline can interrupt it'),
    worker: ok('a wait blocks only the guest\'s thread, which the deadline terminates; a guest thread has no one to notify it but itself'),
  },
  gc: {
    proposal: 'garbage collection (structs, arrays, i31)',
    inprocess: refused('GC objects live on the host\'s JavaScript heap, outside every linear-memory limit; exhausting it is fatal to the whole process'),
    worker: ok('bounded by the thread\'s V8 heap (sized from memory.maxMemoryBytes; exhaustion is ResourceLimitExceeded(\'memory\')) and one array allocation is capped at 524,288 elements, since a single allocation far past the heap limit aborts the process'),
  },
  exceptions: {
    proposal: 'exception handling (tags, try_table, throw, legacy try)',
    ...both('a throw loop is a loop: fuel and deadlines stop it; an exception that escapes to the host is a Trap'),
  },
  tailCalls: { proposal: 'tail calls', ...both('every function entry is metered, so a tail-call loop is charged like a loop') },
  simd: { proposal: 'fixed-width SIMD', ...both('plain computation: metered per instruction') },
  relaxedSimd: { proposal: 'relaxed SIMD', ...both('plain computation: metered per instruction (results may differ between machines, by the proposal\'s design)') },
  memory64: { proposal: 'memory64 (and 64-bit tables)', ...both('grows are routed to the host like 32-bit ones and count against the same per-instance memory total') },
  multiMemory: { proposal: 'multiple memories', ...both('the memory limit is a total over all of an instance\'s memories, at instantiation and on every grow') },
  bulkMemory: { proposal: 'bulk memory operations', ...both('memory.fill/copy/init cost one fuel unit per 16 bytes, charged (and the deadline checked) before they run') },
  referenceTypes: {
    proposal: 'reference types (externref, several tables, table instructions)',
    ...both('tables are bounded together per instance (maxTableElements, and never more than 10,000,000 elements in-process or 1,000,000 on a thread); table.fill/copy/init/grow cost one unit per element'),
  },
  functionReferences: { proposal: 'typed function references', ...both('call_ref lands on a metered function entry') },
  stackSwitching: {
    proposal: 'stack switching (continuations)',
    inprocess: refused('the engine does not implement it'),
    worker: refused('the engine does not implement it'),
  },
};

/** Per feature, whether a sandbox accepts it: `false` narrows what the runtime accepts. */
export type FeatureSettings = Partial<Record<WasmFeature, boolean>>;

const KNOWN = new Set<string>(WASM_FEATURES);

/**
 * The features a sandbox on `runtime` accepts: the runtime's set, narrowed by `settings`. An unknown
 * key, a non-boolean value, or `true` for a feature the runtime cannot bound is InvalidArguments.
 */
export function acceptedFeatures(runtime: RuntimeKind, settings: FeatureSettings | undefined): ReadonlySet<WasmFeature> {
  const accepted = new Set(WASM_FEATURES.filter((f) => FEATURE_POLICY[f][runtime].accepted));
  if (settings === undefined) return accepted;
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) throw new InvalidArguments('features must be an object of booleans, e.g. { gc: false }');
  for (const [key, value] of Object.entries(settings)) {
    if (!KNOWN.has(key)) throw new InvalidArguments(`unknown wasm feature '${key}'; expected one of ${WASM_FEATURES.join(', ')}`);
    if (typeof value !== 'boolean') throw new InvalidArguments(`features.${key} must be a boolean, got ${typeof value}`);
    const feature = key as WasmFeature;
    if (!value) accepted.delete(feature);
    else if (!accepted.has(feature)) {
      throw new InvalidArguments(`features.${key} cannot be enabled on the ${runtime} runtime: ${FEATURE_POLICY[feature][runtime].bound}`);
    }
  }
  return accepted;
}

/**
 * Refuses a module that uses a feature outside `accepted`, naming the feature, where it is used, and
 * why. The runtime's own refusals are judged from the module's declarations (see module/features.ts);
 * a feature the user refused is also looked for in every instruction.
 */
export function checkFeatures(bytes: Uint8Array, runtime: RuntimeKind, accepted: ReadonlySet<WasmFeature>, subject?: string): void {
  const narrowed = WASM_FEATURES.some((f) => FEATURE_POLICY[f][runtime].accepted && !accepted.has(f));
  for (const [feature, where] of detectFeatures(bytes, { walkCode: narrowed })) {
    if (accepted.has(feature)) continue;
    const support = FEATURE_POLICY[feature][runtime];
    const why = support.accepted ? 'this sandbox was created without it' : `the ${runtime} runtime does not accept it: ${support.bound}`;
    const hint = subject === undefined && !support.accepted && FEATURE_POLICY[feature].worker.accepted ? "; the worker runtime (WasmSandbox.create({ runtime: 'worker' })) accepts it" : '';
    throw new InvalidModule(`${subject ?? 'the module'} uses the wasm feature '${feature}' (${FEATURE_POLICY[feature].proposal}; ${where}), and ${why}${hint}`, { feature });
  }
}
