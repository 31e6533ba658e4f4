/**
 * Resource-limit instrumentation: rewrites a core module in one pass so that the limits V8 cannot
 * enforce by itself become part of the guest code. Pure function of (bytes, options); callers cache.
 * Only modules the engine validates are rewritten (see `requireValid`).
 *
 * HOST CONTRACT (docs/instrumentation.md has the long form)
 *
 * Reserved names: the import module `wasm_sandbox` and the export `__wasm_sandbox_fuel` belong to
 * the sandbox. A guest importing anything from `wasm_sandbox` is refused (SecurityViolation); so
 * is, when metering, a guest already exporting `__wasm_sandbox_fuel` (InvalidModule).
 *
 * Added imports, after the guest's own, in this order, each whenever its option is on:
 *   meter:            wasm_sandbox.out_of_fuel : () -> ()      (called via an injected `$refuel`)
 *   routeMemoryGrow:  wasm_sandbox.memory_grow : (memidx i32, delta_pages i32, current_pages i32) -> i32
 *   maxArrayElements: wasm_sandbox.array_too_large : (elements i32) -> ()  (only if the module declares GC types)
 * Guest function indices from the first defined function on shift up by the number added; calls,
 * return_calls, ref.func (code and constant expressions), element segments, exports, the start
 * function and the `name` section are renumbered (see name-section.ts: the sandbox's functions are
 * named `wasm_sandbox.*`); `metadata.code.*` custom sections are dropped. Given a CopyRecorder, every
 * byte range copied from the input is reported, so code offsets map back (frame-map.ts).
 *
 * Fuel (meter): a mutable i64 global appended after the guest's globals, exported as
 * `__wasm_sandbox_fuel`, starting at `initialFuel` (default 0). Each function entry and each loop
 * iteration subtracts the region's static cost (below) and, if the result is negative, calls
 * out_of_fuel. The host then either refills the counter through the export and returns, or
 * throws (which unwinds the guest; guest `catch_all` handlers can intercept one such throw, so
 * keep throwing on every later call). If it returns with the counter still negative, the counter
 * is set to 0 and the guest goes on, calling out_of_fuel again at its next check. The counter
 * is exact whenever the host can observe it: during every imported call (out_of_fuel included)
 * and after the guest returns; after a trap it may lack the charges the trapping function made
 * since its last call. The start function runs before the export is reachable: its fuel comes
 * from `initialFuel`, or the host returns without refilling (every check then calls it).
 *
 * Cost model `fuel-v2` (static, deterministic): one unit per instruction of the original code.
 * A function body and each loop body are regions; a region costs the number of instructions in
 * it, counting nested blocks, ifs and trys but not nested loops' bodies (a nested `loop`
 * instruction counts for the outer region; its body and its `end` for its own), minimum 1. The
 * cost is charged on each entry: per call for a function, per iteration (the first included) for
 * a loop. Control only goes backwards to loop headers, so nothing runs twice per charge: the
 * charge bounds the instructions executed from above. Injected code and host calls are free.
 * Bulk instructions also pay for their size just before they run (injected `$charge32/64`):
 * memory.fill/copy/init one unit per 16 bytes, table.fill/copy/init/grow one per element,
 * memory.grow one per page; a charge that empties the counter takes the slow path first.
 *
 * Memory growth (routeMemoryGrow): each memory m, imported or defined, gets an injected
 * function `(param $delta i32) (result i32)` calling `memory_grow(m, delta, memory.size m)`; a
 * non-zero answer performs the real `memory.grow m` (which can still fail against the declared
 * maximum), zero makes it return -1 like a failed grow, and a host throw traps the guest. Every
 * `memory.grow m` in guest code becomes a call to it. A memory64 memory's wrapper takes an i64: a
 * delta over 2^32 pages returns -1 unasked, smaller ones are asked with the same i32 operands.
 *
 * Limits: `memoryMaxPages` clamps the declared maximum of every defined memory, adding one where
 * absent; `tableMaxElements` bounds all tables together (each defined table may grow by an equal
 * share of what the initial sizes leave). An initial size above the limit throws
 * ResourceLimitExceeded ('memory' in bytes, 'table' in elements). Imported memories and tables
 * are sized by the host. With `maxArrayElements`, every array.new* checks its length first.
 *
 * HOW THE CHECKS ARE COMPILED
 *
 * A mutable global lives in memory, so charging it directly makes every loop iteration wait on a
 * store-to-load round trip; each function therefore keeps the counter in an added i64 local,
 * loaded from the global at entry, written back before anything that can leave the function or
 * reach the host (calls, returns, tail calls, throws, branches to the function label) and
 * reloaded after calls. Functions with exception handlers charge the global directly instead,
 * because a handler can be entered with the local stale. And since V8 compiles a loop containing
 * a call about twice as slowly even when the call never runs, out_of_fuel is called from outside
 * the loop (see `writeBody`). With both, a tight compute loop runs within a few percent of the
 * original; call-bound code pays more, as each call spills and reloads the counter.
 */
import { BinaryReader } from './binary-reader.ts';
import { ByteWriter, PADDED_LEB_BYTES } from './binary-writer.ts';
import { InvalidArguments, InvalidModule, ResourceLimitExceeded, SecurityViolation } from '../errors.ts';
import { toBytes } from './inspect.ts';
import {
  OP_CALL,
  OP_CALL_INDIRECT,
  OP_CALL_REF,
  OP_DELEGATE,
  OP_END,
  OP_LOOP,
  OP_MEMORY_GROW,
  OP_REF_FUNC,
  OP_RETURN_CALL,
  OP_TRY,
  OP_TRY_TABLE,
  opensBlock,
  readOp,
  skipBlockType,
  skipConstExpr,
} from './instructions.ts';
import {
  readPreamble,
  scanCoreSections,
  SEC_CODE,
  SEC_CUSTOM,
  SEC_ELEMENT,
  SEC_EXPORT,
  SEC_FUNCTION,
  SEC_GLOBAL,
  SEC_IMPORT,
  SEC_MEMORY,
  SEC_START,
  SEC_TABLE,
  SEC_TYPE,
  SECTION_RANK,
  sectionName,
  type Section,
} from './sections.ts';
import { readLimits, readTypeSection, skipValType, type Limits, type TypeEntry } from './wasm-types.ts';
import type { CopyRecorder } from './frame-map.ts';
import { rewriteNameSection, type FunctionRenumbering } from './name-section.ts';

export interface InstrumentOptions {
  /** Inject the fuel counter and its checks. */
  meter: boolean;
  /** Clamp every defined memory's maximum to this many 64 KiB pages. */
  memoryMaxPages?: number;
  /** Clamp every defined table's maximum to this many elements. */
  tableMaxElements?: number;
  /** Route every 32-bit `memory.grow` through `wasm_sandbox.memory_grow`. */
  routeMemoryGrow: boolean;
  /** Starting value of the fuel counter (only meaningful with `meter`); pays for the start function. Default 0. */
  initialFuel?: bigint;
  /**
   * Cap every GC array allocation (array.new, array.new_default, array.new_data, array.new_elem) at this
   * many elements: a longer one calls `wasm_sandbox.array_too_large`, which throws. Only modules that
   * declare GC types are affected.
   */
  maxArrayElements?: number;
  /**
   * Export every global, table and memory under `STATE_EXPORT_PREFIX` + `g`/`t`/`m` + index, so the
   * host can snapshot and restore an instance's whole state (recycled instances).
   */
  exportState?: boolean;
}

export interface InstrumentResult {
  bytes: Uint8Array;
  /** Identifies the fuel cost model (`'none'` without metering), e.g. for cache keys and reports. */
  meterCostModel: string;
}

export const RESERVED_IMPORT_MODULE = 'wasm_sandbox';
export const OUT_OF_FUEL_IMPORT = 'out_of_fuel';
export const MEMORY_GROW_IMPORT = 'memory_grow';
export const ARRAY_TOO_LARGE_IMPORT = 'array_too_large';
export const FUEL_EXPORT = '__wasm_sandbox_fuel';
export const STATE_EXPORT_PREFIX = '__wasm_sandbox_state_';
export const METER_COST_MODEL = 'fuel-v2';

const PAGE_BYTES = 65536;
/** Bulk memory operations cost one fuel unit per 16 bytes (about what an instruction costs in time). */
const BYTES_SHIFT = 4;
export const BULK_BYTES_PER_UNIT = 1 << BYTES_SHIFT;
/** Bulk table operations cost one unit per element. */
const ELEMENTS_SHIFT = 0;
/** memory.grow costs one unit per page: growing reserves; the stores and bulk operations that fill the pages pay for them. */
const GROW_SHIFT = 0;
/** The most one bulk instruction is charged; keeps the counter from wrapping. */
const BULK_CHARGE_CAP = 1n << 48n;
const MAX_MEMORY32_PAGES = 65536;
const MAX_U32 = 0xffffffff;
/** V8's limit on the locals of one function (parameters included). */
const MAX_LOCALS = 50000;

const CTL_BLOCK = 0;
/** A metered loop whose check calls out_of_fuel inline. */
const CTL_METERED_LOOP = 1;
/** A metered loop wrapped so that its out_of_fuel call sits outside it. */
const CTL_WRAPPED_LOOP = 2;

const BLOCK_EMPTY = [0x02, 0x40];
/** Closes a wrapped loop's $slow block after branching past the slow path: `br $after; end`. */
const BR_AFTER_END = [0x0c, 0x02, 0x0b];
/** Re-enters the loop after the slow path, then closes $retry and $after: `br $retry; end; end`. */
const BR_RETRY_END_END = [0x0c, 0x00, 0x0b, 0x0b];

interface CheckSequences {
  entryPrefix: Uint8Array;
  loopPrefix: Uint8Array;
  /** After the cost field: charge, then `if; <slow path>; end`. */
  entrySuffix: Uint8Array;
  inlineLoopSuffix: Uint8Array;
  /** After the cost field: charge, then `br_if $slow` (wrapped loops). */
  branchLoopSuffix: Uint8Array;
  slowPath: Uint8Array;
  /** Around a cost: adds it back to the counter (`... i64.const` / `i64.add ...`). */
  creditPrefix: Uint8Array;
  creditSuffix: Uint8Array;
  /** Copies the cached counter to the global (empty when charging the global directly). */
  spill: Uint8Array;
  /** Copies the global to the cached counter after a call. */
  reload: Uint8Array;
}

/** What the pre-pass learns before anything is written. */
interface Layout {
  typeCount: number;
  importedFuncs: number;
  importedGlobals: number;
  definedFuncs: number;
  /** Parameter count of each defined function (its first local index past the parameters). */
  paramCounts: Uint32Array;
  /** Parameter count of each type index, -1 for non-function types. */
  typeParams: Int32Array;
  definedGlobals: number;
  /** For every memory in index space order: is it 64-bit. */
  memory64: boolean[];
  /** Whether the type section declares struct, array (or continuation) types. */
  gcTypes: boolean;
  /** For every table in index space order: is it 64-bit, and its initial size. */
  table64: boolean[];
  tableMins: number[];
}

function checkOptions(opts: InstrumentOptions): void {
  const limit = (value: number | undefined, name: string): void => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new InvalidArguments(`${name} must be a non-negative integer, got ${String(value)}`, { expected: 'non-negative integer' });
    }
  };
  limit(opts.memoryMaxPages, 'memoryMaxPages');
  limit(opts.tableMaxElements, 'tableMaxElements');
  limit(opts.maxArrayElements, 'maxArrayElements');
  if (opts.initialFuel !== undefined && typeof opts.initialFuel !== 'bigint') {
    throw new InvalidArguments('initialFuel must be a bigint', { expected: 'bigint' });
  }
}

function prePass(r: BinaryReader, sections: Section[]): Layout {
  const layout: Layout = { typeCount: 0, importedFuncs: 0, importedGlobals: 0, definedFuncs: 0, paramCounts: new Uint32Array(0), typeParams: new Int32Array(0), definedGlobals: 0, memory64: [], gcTypes: false, table64: [], tableMins: [] };
  let codeCount = 0;
  let types: TypeEntry[] = [];
  for (const s of sections) {
    r.pos = s.start;
    r.end = s.end;
    switch (s.id) {
      case SEC_TYPE:
        types = readTypeSection(r);
        layout.typeCount = types.length;
        layout.gcTypes = types.includes(null);
        layout.typeParams = Int32Array.from(types, (t) => (t === null ? -1 : t.params.length));
        break;
      case SEC_IMPORT: {
        const n = r.count(4);
        for (let i = 0; i < n; i++) {
          const at = r.pos;
          const module = r.name();
          if (module === RESERVED_IMPORT_MODULE) {
            throw new SecurityViolation('hostFunctions', `the module imports from '${RESERVED_IMPORT_MODULE}', a name reserved for the sandbox (import at offset ${at})`);
          }
          r.name();
          const kindAt = r.pos;
          const kind = r.u8();
          if (kind === 0x00) {
            r.u32();
            layout.importedFuncs++;
          } else if (kind === 0x01) {
            skipValType(r);
            const l = readLimits(r);
            layout.table64.push(l.is64);
            layout.tableMins.push(l.min);
          } else if (kind === 0x02) {
            layout.memory64.push(readLimits(r).is64);
          } else if (kind === 0x03) {
            skipValType(r);
            r.u8();
            layout.importedGlobals++;
          } else if (kind === 0x04) {
            r.u8();
            r.u32();
          } else {
            r.fail(`unknown import kind 0x${kind.toString(16)}`, kindAt);
          }
        }
        break;
      }
      case SEC_FUNCTION: {
        const n = r.count();
        layout.definedFuncs = n;
        layout.paramCounts = new Uint32Array(n);
        for (let i = 0; i < n; i++) {
          const at = r.pos;
          const t = r.u32();
          const sig = types[t];
          if (sig === undefined || sig === null) r.fail(`function type index ${t} is not a function type`, at);
          layout.paramCounts[i] = sig.params.length;
        }
        break;
      }
      case SEC_MEMORY: {
        const n = r.count(2);
        for (let i = 0; i < n; i++) layout.memory64.push(readLimits(r).is64);
        break;
      }
      case SEC_TABLE:
        readTableSizes(r, layout);
        break;
      case SEC_GLOBAL:
        layout.definedGlobals = r.count(3);
        break;
      case SEC_CODE:
        codeCount = r.count();
        break;
    }
  }
  if (codeCount !== layout.definedFuncs) {
    throw new InvalidModule(`function section declares ${layout.definedFuncs} functions but the code section has ${codeCount} bodies`);
  }
  return layout;
}

export function instrument(input: Uint8Array, opts: InstrumentOptions, recorder?: CopyRecorder): InstrumentResult {
  checkOptions(opts);
  const bytes = toBytes(input);
  if (readPreamble(bytes) === 'component') throw new InvalidModule('components cannot be instrumented; only core modules are supported', { offset: 6 });
  requireValid(bytes);
  const r = new BinaryReader(bytes, 8);
  const sections = scanCoreSections(r);
  const layout = prePass(r, sections);
  return new Rewriter(bytes, r, sections, layout, opts, recorder).run();
}

/**
 * The rewrite trusts the indices and types it reads, and the sandbox's own additions fill index
 * slots an invalid module may point at: a `global.set 0` with no globals would become a write to the
 * fuel counter. So only modules the engine accepts are rewritten, whoever calls.
 */
function requireValid(bytes: Uint8Array): void {
  const data = bytes as Uint8Array<ArrayBuffer>;
  if (WebAssembly.validate(data)) return;
  let reason = 'the engine rejects it';
  try {
    new WebAssembly.Module(data);
  } catch (err) {
    reason = (err as Error).message;
  }
  throw new InvalidModule(`only valid modules are instrumented: ${reason}`);
}

/** Reads the table section's entries into the layout (64-bit or not, initial size). */
function readTableSizes(r: BinaryReader, layout: Layout): void {
  const n = r.count(3);
  for (let i = 0; i < n; i++) {
    const withInit = r.peek() === 0x40;
    if (withInit) r.pos += 2;
    skipValType(r);
    const l = readLimits(r);
    layout.table64.push(l.is64);
    layout.tableMins.push(l.min);
    if (withInit) skipConstExpr(r);
  }
}

/** One instrumentation run; holds the derived index layout so section writers stay small. */
class Rewriter {
  private readonly src: Uint8Array;
  private readonly r: BinaryReader;
  private readonly sections: Section[];
  private readonly layout: Layout;
  private readonly opts: InstrumentOptions;
  private readonly w: ByteWriter;

  /** Number of imported functions added (they shift defined function indices). */
  private readonly shift: number;
  private readonly outOfFuelFunc: number;
  private readonly memoryGrowFunc: number;
  private readonly fuelGlobal: number;
  /** Per memory index: function index of its grow wrapper, or -1 when not routed. */
  private readonly growWrapper: number[];
  /** Memory index of each wrapper, in function order. */
  private readonly wrapperMemories: number[];
  private readonly newTypes: number[][];
  private readonly outOfFuelType: number;
  private readonly memoryGrowType: number;
  private readonly wrapperType: number;
  private readonly wrapper64Type: number;
  /** The array-length import and the injected `$check_array` that calls it (with `maxArrayElements`), or -1. */
  private readonly arrayTooLargeFunc: number;
  private readonly checkArrayFunc: number;
  private readonly arrayTooLargeType: number;
  private readonly checkArrayType: number;
  /** The injected bulk-charge helpers `$charge32` / `$charge64` (metering only), or -1. */
  private readonly charge32Func: number;
  private readonly charge64Func: number;
  private readonly charge32Type: number;
  private readonly charge64Type: number;
  /** The injected `$refuel` function (metering only), or -1. */
  private readonly refuelFunc: number;
  private readonly refuelType: number;
  /** Functions appended after the guest's: grow wrappers, then `$refuel`. */
  private readonly addedFuncs: number;
  /** Check sequences for functions that charge the global directly. */
  private readonly globalSeqs: CheckSequences;
  /** Check sequences by the index of the local caching the counter (many functions share one). */
  private readonly cachedSeqs = new Map<number, CheckSequences>();
  /** Parameter count of every type index (-1 for non-function types), to classify loop block types. */
  private readonly typeParams: Int32Array;

  constructor(src: Uint8Array, r: BinaryReader, sections: Section[], layout: Layout, opts: InstrumentOptions, recorder: CopyRecorder | undefined) {
    this.src = src;
    this.r = r;
    this.sections = sections;
    this.layout = layout;
    this.opts = opts;
    // Metered code grows by roughly a third; sizing for half avoids copying a large output on growth.
    this.w = new ByteWriter(src.length + (src.length >> 1) + 256);

    const capArrays = opts.maxArrayElements !== undefined && layout.gcTypes;
    this.shift = (opts.meter ? 1 : 0) + (opts.routeMemoryGrow ? 1 : 0) + (capArrays ? 1 : 0);
    this.outOfFuelFunc = opts.meter ? layout.importedFuncs : -1;
    this.memoryGrowFunc = opts.routeMemoryGrow ? layout.importedFuncs + (opts.meter ? 1 : 0) : -1;
    this.arrayTooLargeFunc = capArrays ? layout.importedFuncs + this.shift - 1 : -1;
    this.fuelGlobal = layout.importedGlobals + layout.definedGlobals;

    this.growWrapper = layout.memory64.map(() => -1);
    this.wrapperMemories = [];
    if (opts.routeMemoryGrow) {
      const firstWrapper = layout.importedFuncs + this.shift + layout.definedFuncs;
      layout.memory64.forEach((_is64, m) => {
        this.growWrapper[m] = firstWrapper + this.wrapperMemories.length;
        this.wrapperMemories.push(m);
      });
    }

    // Plain function types appended after the guest's: appending never renumbers existing types.
    this.newTypes = [];
    const addType = (params: number[], results: number[]): number => {
      this.newTypes.push([0x60, params.length, ...params, results.length, ...results]);
      return layout.typeCount + this.newTypes.length - 1;
    };
    const I32 = 0x7f;
    const I64 = 0x7e;
    this.outOfFuelType = opts.meter ? addType([], []) : -1;
    this.memoryGrowType = opts.routeMemoryGrow ? addType([I32, I32, I32], [I32]) : -1;
    this.wrapperType = this.wrapperMemories.some((m) => !layout.memory64[m]) ? addType([I32], [I32]) : -1;
    this.wrapper64Type = this.wrapperMemories.some((m) => layout.memory64[m]) ? addType([I64], [I64]) : -1;
    this.refuelType = opts.meter ? addType([I64], [I64]) : -1;
    this.charge32Type = opts.meter ? addType([I32, I32], [I32]) : -1;
    this.charge64Type = opts.meter ? addType([I64, I32], [I64]) : -1;
    this.refuelFunc = opts.meter ? layout.importedFuncs + this.shift + layout.definedFuncs + this.wrapperMemories.length : -1;
    this.charge32Func = opts.meter ? this.refuelFunc + 1 : -1;
    this.charge64Func = opts.meter ? this.refuelFunc + 2 : -1;
    this.arrayTooLargeType = capArrays ? addType([I32], []) : -1;
    this.checkArrayType = capArrays ? addType([I32], [I32]) : -1;
    this.checkArrayFunc = capArrays ? layout.importedFuncs + this.shift + layout.definedFuncs + this.wrapperMemories.length + (opts.meter ? 3 : 0) : -1;
    this.addedFuncs = this.wrapperMemories.length + (opts.meter ? 3 : 0) + (capArrays ? 1 : 0);

    this.typeParams = layout.typeParams;
    this.globalSeqs = this.checkSequences(-1);
    if (recorder) {
      this.w.onCopy = recorder.record;
      recorder.functions = this.renumbering();
    }
  }

  /** How function indices move, and the names of the functions the sandbox adds. */
  private renumbering(): FunctionRenumbering {
    return {
      importedFuncs: this.layout.importedFuncs,
      addedImports: [...(this.opts.meter ? [OUT_OF_FUEL_IMPORT] : []), ...(this.opts.routeMemoryGrow ? [MEMORY_GROW_IMPORT] : [])].map((n) => `${RESERVED_IMPORT_MODULE}.${n}`),
      definedFuncs: this.layout.definedFuncs,
      addedFunctions: [...this.wrapperMemories.map((m) => `${RESERVED_IMPORT_MODULE}.memory_grow_${m}`), ...(this.opts.meter ? [`${RESERVED_IMPORT_MODULE}.refuel`] : [])],
    };
  }

  /** The guest's `name` section with its function indices renumbered; dropped if it cannot be read. */
  private writeNames(s: Section): void {
    const { r } = this;
    r.pos = s.start;
    r.end = s.end;
    r.name();
    const names = rewriteNameSection(this.src, r.pos, s.end, this.renumbering());
    if (names) this.section(SEC_CUSTOM, () => {
      this.w.name('name');
      this.w.bytes(names);
    });
  }

  private remapFunc(f: number): number {
    return f >= this.layout.importedFuncs ? f + this.shift : f;
  }

  run(): InstrumentResult {
    const { w, r, src } = this;
    w.copy(src, 0, 8);
    const present = new Set<number>();
    for (const s of this.sections) if (s.id !== SEC_CUSTOM) present.add(s.id);
    const synthesized = this.sectionsToSynthesize(present);

    for (const s of this.sections) {
      if (s.id === SEC_CUSTOM) {
        if (s.name === 'name' && (this.shift > 0 || this.addedFuncs > 0)) this.writeNames(s);
        else if (!this.dropCustom(s.name!)) w.copy(src, s.headerStart, s.end);
        continue;
      }
      this.emitSynthesizedBefore(synthesized, SECTION_RANK[s.id]);
      r.pos = s.start;
      r.end = s.end;
      if (!this.rewriteSection(s)) {
        w.copy(src, s.headerStart, s.end);
        continue;
      }
      if (r.pos !== s.end) r.fail(`${sectionName(s.id)} section contents end at ${r.pos}, not at the declared end ${s.end}`, r.pos);
    }
    this.emitSynthesizedBefore(synthesized, Infinity);
    return { bytes: w.finish(), meterCostModel: this.opts.meter ? METER_COST_MODEL : 'none' };
  }

  private sectionsToSynthesize(present: Set<number>): number[] {
    const needed: number[] = [];
    const want = (id: number, cond: boolean): void => {
      if (cond && !present.has(id)) needed.push(id);
    };
    want(SEC_TYPE, this.newTypes.length > 0);
    want(SEC_IMPORT, this.shift > 0);
    want(SEC_FUNCTION, this.addedFuncs > 0);
    want(SEC_GLOBAL, this.opts.meter);
    want(SEC_EXPORT, this.opts.meter || this.opts.exportState === true);
    want(SEC_CODE, this.addedFuncs > 0);
    return needed.sort((a, b) => SECTION_RANK[a] - SECTION_RANK[b]);
  }

  private emitSynthesizedBefore(pending: number[], rank: number): void {
    while (pending.length > 0 && SECTION_RANK[pending[0]] < rank) {
      const id = pending.shift()!;
      this.section(id, () => this.writeSection(id, false));
    }
  }

  /** Custom sections whose contents refer to function indices or code offsets go stale when those move. */
  private dropCustom(name: string): boolean {
    if (this.shift === 0 && !this.opts.meter) return false;
    return name.startsWith('metadata.code.');
  }

  private section(id: number, body: () => void): void {
    this.w.u8(id);
    const at = this.w.reserve();
    body();
    this.w.patchU32(at, this.w.sinceReserved(at));
  }

  /** Writes a rewritten version of section `s` if it needs one; false means copy it verbatim. */
  private rewriteSection(s: Section): boolean {
    const { opts } = this;
    const shifting = this.shift > 0;
    let needed: boolean;
    switch (s.id) {
      case SEC_TYPE:
        needed = this.newTypes.length > 0;
        break;
      case SEC_IMPORT:
        needed = shifting;
        break;
      case SEC_FUNCTION:
        needed = this.addedFuncs > 0;
        break;
      case SEC_TABLE:
        needed = shifting || opts.tableMaxElements !== undefined;
        break;
      case SEC_MEMORY:
        needed = opts.memoryMaxPages !== undefined;
        break;
      case SEC_GLOBAL:
        needed = shifting || opts.meter;
        break;
      case SEC_EXPORT:
        needed = shifting || opts.meter || opts.exportState === true;
        break;
      case SEC_START:
      case SEC_ELEMENT:
        needed = shifting;
        break;
      case SEC_CODE:
        needed = shifting || opts.meter;
        break;
      default:
        needed = false;
    }
    if (needed) this.section(s.id, () => this.writeSection(s.id, true));
    return needed;
  }

  /** Writes the contents of section `id`, from the input when `fromInput` (reader positioned on it), else from nothing. */
  private writeSection(id: number, fromInput: boolean): void {
    switch (id) {
      case SEC_TYPE:
        return this.appendToVector(fromInput, this.newTypes);
      case SEC_IMPORT: {
        const entries: number[][] = [];
        if (this.opts.meter) entries.push([...nameBytes(RESERVED_IMPORT_MODULE), ...nameBytes(OUT_OF_FUEL_IMPORT), 0x00, ...leb(this.outOfFuelType)]);
        if (this.opts.routeMemoryGrow) entries.push([...nameBytes(RESERVED_IMPORT_MODULE), ...nameBytes(MEMORY_GROW_IMPORT), 0x00, ...leb(this.memoryGrowType)]);
        if (this.arrayTooLargeFunc >= 0) entries.push([...nameBytes(RESERVED_IMPORT_MODULE), ...nameBytes(ARRAY_TOO_LARGE_IMPORT), 0x00, ...leb(this.arrayTooLargeType)]);
        return this.appendToVector(fromInput, entries);
      }
      case SEC_FUNCTION:
        return this.appendToVector(
          fromInput,
          [
            ...this.wrapperMemories.map((m) => leb(this.layout.memory64[m] ? this.wrapper64Type : this.wrapperType)),
            ...(this.opts.meter ? [leb(this.refuelType), leb(this.charge32Type), leb(this.charge64Type)] : []),
            ...(this.checkArrayFunc >= 0 ? [leb(this.checkArrayType)] : []),
          ],
        );
      case SEC_TABLE:
        return this.writeTables();
      case SEC_MEMORY:
        return this.writeMemories();
      case SEC_GLOBAL:
        return this.writeGlobals(fromInput);
      case SEC_EXPORT:
        return this.writeExports(fromInput);
      case SEC_START:
        this.w.u32(this.remapFunc(this.r.u32()));
        return;
      case SEC_ELEMENT:
        return this.writeElements();
      case SEC_CODE:
        return this.writeCode(fromInput);
    }
  }

  /** Vector sections whose existing entries need no change: new count, old entries verbatim, new entries. */
  private appendToVector(fromInput: boolean, extra: number[][]): void {
    const { r, w } = this;
    const n = fromInput ? r.count() : 0;
    w.u32(n + extra.length);
    if (fromInput) {
      w.copy(this.src, r.pos, r.end);
      r.pos = r.end;
    }
    for (const e of extra) w.bytes(e);
  }

  private writeLimits(l: Limits, limit: number | undefined, cap: number, what: 'memory' | 'table'): void {
    const { w } = this;
    let { flags, max } = l;
    if (limit !== undefined) {
      const bound = Math.min(limit, cap);
      if (l.min > bound) {
        if (what === 'memory') throw new ResourceLimitExceeded('memory', limit * PAGE_BYTES, l.min * PAGE_BYTES, `initial memory of ${l.min} pages exceeds the limit of ${limit} pages`);
        throw new ResourceLimitExceeded('table', limit, l.min, `initial table size of ${l.min} elements exceeds the limit`);
      }
      max = max === null ? bound : Math.min(max, bound);
      flags |= 0x01;
    }
    w.u8(flags);
    if (l.is64) {
      w.u64(l.min);
      if (max !== null) w.u64(max);
    } else {
      w.u32(l.min);
      if (max !== null) w.u32(max);
    }
  }

  private copyValType(): void {
    const start = this.r.pos;
    skipValType(this.r);
    this.w.copy(this.src, start, this.r.pos);
  }

  private writeTables(): void {
    const { r, w } = this;
    const share = this.tableShare();
    const n = r.count(3);
    w.u32(n);
    for (let i = 0; i < n; i++) {
      const withInit = r.peek() === 0x40;
      if (withInit) {
        r.pos++;
        const at = r.pos;
        if (r.u8() !== 0x00) r.fail('invalid table encoding', at);
        w.u8(0x40);
        w.u8(0x00);
      }
      this.copyValType();
      const l = readLimits(r);
      this.writeLimits(l, share === undefined ? undefined : l.min + share, l.is64 ? Number.MAX_SAFE_INTEGER : MAX_U32, 'table');
      if (withInit) this.copyConstExpr();
    }
  }

  /**
   * `tableMaxElements` bounds the instance's tables together: their initial sizes must fit it, and each
   * table may grow by an equal share of what is left, so no number of tables exceeds it in total.
   */
  private tableShare(): number | undefined {
    const limit = this.opts.tableMaxElements;
    if (limit === undefined) return undefined;
    const mins = this.layout.tableMins;
    const total = mins.reduce((sum, min) => sum + min, 0);
    if (total > limit) {
      throw new ResourceLimitExceeded('table', limit, total, `the module's ${mins.length} tables start at ${total} elements in total`);
    }
    return Math.floor((limit - total) / Math.max(1, mins.length));
  }

  private writeMemories(): void {
    const { r, w } = this;
    const n = r.count(2);
    w.u32(n);
    for (let i = 0; i < n; i++) {
      const l = readLimits(r);
      this.writeLimits(l, this.opts.memoryMaxPages, l.is64 ? Number.MAX_SAFE_INTEGER : MAX_MEMORY32_PAGES, 'memory');
    }
  }

  private writeGlobals(fromInput: boolean): void {
    const { r, w } = this;
    const n = fromInput ? r.count(3) : 0;
    w.u32(n + (this.opts.meter ? 1 : 0));
    for (let i = 0; i < n; i++) {
      const start = r.pos;
      skipValType(r);
      r.u8();
      w.copy(this.src, start, r.pos);
      this.copyConstExpr();
    }
    if (this.opts.meter) {
      w.bytes([0x7e, 0x01, 0x42]);
      w.s64(this.opts.initialFuel ?? 0n);
      w.u8(0x0b);
    }
  }

  private writeExports(fromInput: boolean): void {
    const { r, w } = this;
    const n = fromInput ? r.count(3) : 0;
    const { importedGlobals, definedGlobals, memory64, table64 } = this.layout;
    const tables = table64.length;
    const state = this.opts.exportState ? importedGlobals + definedGlobals + memory64.length + tables : 0;
    w.u32(n + (this.opts.meter ? 1 : 0) + state);
    for (let i = 0; i < n; i++) {
      const start = r.pos;
      const name = r.name();
      if (this.opts.meter && name === FUEL_EXPORT) r.fail(`export name '${FUEL_EXPORT}' is reserved for the sandbox`, start);
      if (this.opts.exportState && name.startsWith(STATE_EXPORT_PREFIX)) r.fail(`export names starting '${STATE_EXPORT_PREFIX}' are reserved for the sandbox`, start);
      w.copy(this.src, start, r.pos);
      const kind = r.u8();
      const index = r.u32();
      w.u8(kind);
      w.u32(kind === 0x00 ? this.remapFunc(index) : index);
    }
    if (this.opts.meter) {
      w.name(FUEL_EXPORT);
      w.u8(0x03);
      w.u32(this.fuelGlobal);
    }
    if (this.opts.exportState) {
      const exportAll = (count: number, letter: string, kind: number): void => {
        for (let i = 0; i < count; i++) {
          w.name(`${STATE_EXPORT_PREFIX}${letter}${i}`);
          w.u8(kind);
          w.u32(i);
        }
      };
      // The fuel counter is the sandbox's own (exported above), not guest state.
      exportAll(importedGlobals + definedGlobals, 'g', 0x03);
      exportAll(tables, 't', 0x01);
      exportAll(memory64.length, 'm', 0x02);
    }
  }

  private writeElements(): void {
    const { r, w } = this;
    const n = r.count();
    w.u32(n);
    for (let i = 0; i < n; i++) {
      const at = r.pos;
      const flags = r.u32();
      if (flags > 7) r.fail(`invalid element segment flags ${flags}`, at);
      w.u32(flags);
      const passiveOrDeclarative = (flags & 0x01) !== 0;
      const explicitTable = (flags & 0x02) !== 0;
      const usesExpressions = (flags & 0x04) !== 0;
      if (!passiveOrDeclarative) {
        if (explicitTable) w.u32(r.u32());
        this.copyConstExpr();
      }
      if (passiveOrDeclarative || explicitTable) {
        if (usesExpressions) this.copyValType();
        else {
          const kindAt = r.pos;
          if (r.u8() !== 0x00) r.fail('invalid element kind', kindAt);
          w.u8(0x00);
        }
      }
      const count = r.count();
      w.u32(count);
      for (let j = 0; j < count; j++) {
        if (usesExpressions) this.copyConstExpr();
        else w.u32(this.remapFunc(r.u32()));
      }
    }
  }

  /** Copies a constant expression through its `end`, renumbering `ref.func`. */
  private copyConstExpr(): void {
    const { r, w, src } = this;
    let run = r.pos;
    let depth = 0;
    for (;;) {
      const start = r.pos;
      const op = readOp(r);
      if (op === OP_REF_FUNC && this.shift > 0) {
        const f = readLebAt(src, start + 1);
        w.copy(src, run, start);
        w.u8(op);
        w.u32(this.remapFunc(f));
        run = r.pos;
      } else if (op === OP_END) {
        if (depth === 0) break;
        depth--;
      } else if (opensBlock(op)) {
        depth++;
      } else if (op === OP_DELEGATE) {
        if (depth === 0) r.fail('delegate outside a try block', start);
        depth--;
      }
    }
    w.copy(src, run, r.pos);
  }

  private writeCode(fromInput: boolean): void {
    const { r, w } = this;
    const n = fromInput ? r.count() : 0;
    w.u32(n + this.addedFuncs);
    const sectionEnd = r.end;
    for (let i = 0; i < n; i++) {
      const sizeAt = r.pos;
      const size = r.u32();
      if (size > sectionEnd - r.pos) r.fail(`function body size ${size} exceeds the code section`, sizeAt);
      const bodyStart = r.pos;
      const bodyEnd = bodyStart + size;
      r.end = bodyEnd;
      const at = w.reserve();
      // Exception handlers can land with a cached counter stale, so such functions charge the global directly.
      if (!this.writeBody(bodyEnd, this.opts.meter ? this.layout.paramCounts[i] : -1)) {
        w.len = at + PADDED_LEB_BYTES;
        r.pos = bodyStart;
        this.writeBody(bodyEnd, -1);
      }
      w.patchU32(at, w.sinceReserved(at));
      r.end = sectionEnd;
    }
    for (const m of this.wrapperMemories) this.writeGrowWrapper(m);
    if (this.opts.meter) {
      this.writeRefuel();
      this.writeChargeHelper(false);
      this.writeChargeHelper(true);
    }
    if (this.checkArrayFunc >= 0) this.writeCheckArray();
  }

  /**
   * The byte sequences of the fuel checks, charging the global directly (`local` = -1) or a
   * local that caches it.
   */
  private checkSequences(local: number): CheckSequences {
    const fuel = leb(this.fuelGlobal);
    const refuel = [0x10, ...leb(this.refuelFunc)];
    const isNegative = [0x42, 0x00, 0x53]; // i64.const 0; i64.lt_s
    const ifCall = (slow: number[]): number[] => [0x04, 0x40, ...slow, 0x0b];
    const brIfSlow = [0x0d, 0x01]; // br_if to the $slow block right outside the loop
    if (local < 0) {
      const charge = [0x7d, 0x24, ...fuel, 0x23, ...fuel, ...isNegative]; // i64.sub; global.set; global.get
      const slow = [0x23, ...fuel, ...refuel, 0x24, ...fuel];
      return {
        entryPrefix: new Uint8Array([0x23, ...fuel, 0x42]),
        loopPrefix: new Uint8Array([0x23, ...fuel, 0x42]),
        entrySuffix: new Uint8Array([...charge, ...ifCall(slow)]),
        inlineLoopSuffix: new Uint8Array([...charge, ...ifCall(slow)]),
        branchLoopSuffix: new Uint8Array([...charge, ...brIfSlow]),
        slowPath: new Uint8Array(slow),
        creditPrefix: new Uint8Array([0x23, ...fuel, 0x42]),
        creditSuffix: new Uint8Array([0x7c, 0x24, ...fuel]), // i64.add; global.set
        spill: new Uint8Array(0),
        reload: new Uint8Array(0),
      };
    }
    const l = leb(local);
    const spill = [0x20, ...l, 0x24, ...fuel];
    const reload = [0x23, ...fuel, 0x21, ...l];
    const slow = [0x20, ...l, ...refuel, 0x21, ...l];
    const charge = [0x7d, 0x22, ...l, ...isNegative]; // i64.sub; local.tee
    return {
      entryPrefix: new Uint8Array([0x23, ...fuel, 0x42]),
      loopPrefix: new Uint8Array([0x20, ...l, 0x42]),
      entrySuffix: new Uint8Array([...charge, ...ifCall(slow)]),
      inlineLoopSuffix: new Uint8Array([...charge, ...ifCall(slow)]),
      branchLoopSuffix: new Uint8Array([...charge, ...brIfSlow]),
      slowPath: new Uint8Array(slow),
      creditPrefix: new Uint8Array([0x20, ...l, 0x42]),
      creditSuffix: new Uint8Array([0x7c, 0x21, ...l]), // i64.add; local.set
      spill: new Uint8Array(spill),
      reload: new Uint8Array(reload),
    };
  }

  /** Writes a check; returns the position of its cost field for later patching. */
  private emitCheck(prefix: Uint8Array, suffix: Uint8Array): number {
    const { w } = this;
    w.bytes(prefix);
    const at = w.reserve();
    w.bytes(suffix);
    return at;
  }

  /**
   * Copies one function body (reader window = the body), rewriting what the options require.
   *
   * Metered loops without parameters are wrapped so that the out-of-fuel call sits outside the
   * loop (a call inside a loop body makes V8 compile the whole loop about twice as slowly):
   *
   *     block bt                      ;; $after
   *       loop bt                     ;; $retry
   *         block                     ;; $slow
   *           loop bt                 ;; the guest's loop
   *             <charge>; br_if $slow
   *             ...guest code...
   *           end
   *           br $after
   *         end
   *         call $out_of_fuel
   *         <credit the loop's cost, which re-entering charges again>
   *         br $retry
   *       end
   *     end
   *
   * which adds three labels outside the guest's loop, so branches from inside it to labels
   * beyond it are renumbered. Loops with parameters keep the check inline (`if; call; end`).
   *
   * With `paramCount >= 0` the counter is cached in a new local, spilled to the global before
   * anything that may leave the function or reach the host (calls, returns, throws, branches
   * to the function label) and reloaded after calls; the result is false, with garbage written,
   * if the body has exception handlers. With -1 the global is charged directly.
   */
  private writeBody(bodyEnd: number, paramCount: number): boolean {
    const { r, w, src } = this;
    const meter = this.opts.meter;
    const shift = this.shift;
    const importedFuncs = this.layout.importedFuncs;
    const growWrapper = this.growWrapper;
    const typeParams = this.typeParams;

    const declAt = r.pos;
    const decls = r.count(2);
    const declsStart = r.pos;
    let locals = paramCount;
    for (let d = 0; d < decls; d++) {
      locals += r.u32();
      skipValType(r);
    }
    // One more local must stay within the engine's limit, or the output would not validate.
    const cached = paramCount >= 0 && locals < MAX_LOCALS;
    let seq = this.globalSeqs;
    if (cached) {
      w.u32(decls + 1);
      w.copy(src, declsStart, r.pos);
      w.bytes([1, 0x7e]);
      seq = this.cachedSeqs.get(locals) ?? this.checkSequences(locals);
      this.cachedSeqs.set(locals, seq);
    } else {
      w.copy(src, declAt, r.pos);
    }

    // Open blocks, innermost last, and per block the number of wrapped loops up to and including it.
    const ctl: number[] = [];
    const wrappedUpTo: number[] = [];
    // Cost fields to patch and the instruction counts of the regions enclosing each open metered loop.
    const patchAt: number[] = [];
    const outerCounts: number[] = [];
    let count = 0;
    const functionPatch = meter ? this.emitCheck(seq.entryPrefix, seq.entrySuffix) : -1;

    let run = r.pos;
    for (;;) {
      const start = r.pos;
      if (start >= bodyEnd) r.fail('function body ends before its final end', start);
      const op = src[start];
      count++;
      // Fast path for the bulk of any code: numeric instructions and local/global accesses with a one-byte index.
      if (op >= 0x45 && op <= 0xc4) {
        r.pos = start + 1;
        continue;
      }
      if (op >= 0x20 && op <= 0x24 && start + 1 < bodyEnd && src[start + 1] < 0x80) {
        r.pos = start + 2;
        continue;
      }
      if (op === OP_CALL || op === OP_RETURN_CALL || op === OP_REF_FUNC) {
        r.pos = start + 1;
        const f = r.u32();
        const renumber = shift > 0 && f >= importedFuncs;
        const isCall = cached && op !== OP_REF_FUNC;
        if (renumber || isCall) {
          w.copy(src, run, start);
          if (isCall) w.bytes(seq.spill);
          w.u8(op);
          w.u32(renumber ? f + shift : f);
          if (isCall && op === OP_CALL) w.bytes(seq.reload);
          run = r.pos;
        }
        continue;
      }
      if (op === OP_MEMORY_GROW) {
        r.pos = start + 1;
        const m = r.u32();
        const wrapper = m < growWrapper.length ? growWrapper[m] : -1;
        if (wrapper >= 0 || meter) {
          w.copy(src, run, start);
          if (meter) this.writeBulkCharge(this.layout.memory64[m] === true, GROW_SHIFT, seq);
          if (wrapper >= 0) {
            w.u8(OP_CALL);
            w.u32(wrapper);
          } else {
            w.copy(src, start, r.pos);
          }
          run = r.pos;
        }
        continue;
      }
      if (op === OP_LOOP && meter) {
        r.pos = start + 1;
        const btStart = r.pos;
        const bt = r.s33();
        r.pos = btStart;
        skipBlockType(r);
        const wrap = bt < 0 || (bt < typeParams.length && typeParams[bt] === 0);
        w.copy(src, run, start);
        if (wrap) {
          w.u8(0x02);
          w.copy(src, btStart, r.pos);
          w.u8(0x03);
          w.copy(src, btStart, r.pos);
          w.bytes(BLOCK_EMPTY);
        }
        w.copy(src, start, r.pos);
        patchAt.push(this.emitCheck(seq.loopPrefix, wrap ? seq.branchLoopSuffix : seq.inlineLoopSuffix));
        outerCounts.push(count);
        count = 0;
        const kind = wrap ? CTL_WRAPPED_LOOP : CTL_METERED_LOOP;
        wrappedUpTo.push((ctl.length > 0 ? wrappedUpTo[ctl.length - 1] : 0) + (wrap ? 1 : 0));
        ctl.push(kind);
        run = r.pos;
        continue;
      }

      if (meter && op === 0xfc) {
        const bulk = this.bulkOperand(start);
        if (bulk !== undefined) {
          w.copy(src, run, start);
          this.writeBulkCharge(bulk.is64, bulk.shift, seq);
          run = start;
        }
      }
      if (op === 0xfb && this.checkArrayFunc >= 0 && allocatesArray(readLebAt(src, start + 1))) {
        w.copy(src, run, start);
        w.u8(OP_CALL);
        w.u32(this.checkArrayFunc);
        run = start;
      }
      readOp(r);
      const depth = ctl.length;
      if (cached) {
        if (op === OP_TRY || op === OP_TRY_TABLE) return false;
        if (leavesFunction(src, start, op, depth)) {
          w.copy(src, run, start);
          w.bytes(seq.spill);
          run = start;
        }
      }
      if (depth > 0 && wrappedUpTo[depth - 1] > 0 && hasLabels(src, start, op)) {
        w.copy(src, run, start);
        this.writeRelabeled(start, op, op === OP_DELEGATE ? depth - 1 : depth, wrappedUpTo);
        run = r.pos;
      }
      if (op === OP_END || op === OP_DELEGATE) {
        if (depth === 0) {
          if (op === OP_DELEGATE) r.fail('delegate outside a try block', start);
          break;
        }
        const kind = ctl.pop();
        wrappedUpTo.pop();
        if (kind !== CTL_BLOCK) {
          const loopCost = count;
          w.patchS64(patchAt.pop()!, loopCost);
          count = outerCounts.pop()!;
          if (kind === CTL_WRAPPED_LOOP) {
            w.copy(src, run, r.pos);
            w.bytes(BR_AFTER_END);
            w.bytes(seq.slowPath);
            // Re-entering the loop charges its cost again; credit it so the region is paid once, as with inline checks.
            w.bytes(seq.creditPrefix);
            w.s64(BigInt(loopCost));
            w.bytes(seq.creditSuffix);
            w.bytes(BR_RETRY_END_END);
            run = r.pos;
          }
        }
      } else if (opensBlock(op)) {
        wrappedUpTo.push(depth > 0 ? wrappedUpTo[depth - 1] : 0);
        ctl.push(CTL_BLOCK);
      } else if (cached && (op === OP_CALL_INDIRECT || op === OP_CALL_REF)) {
        w.copy(src, run, r.pos);
        w.bytes(seq.reload);
        run = r.pos;
      }
    }
    if (r.pos !== bodyEnd) r.fail(`function body ends at ${r.pos}, before its declared end ${bodyEnd}`, r.pos);
    w.copy(src, run, r.pos);
    if (meter) w.patchS64(functionPatch, count);
    return true;
  }

  /**
   * Re-encodes a branching instruction (already validated by `readOp`) with every label that
   * crosses wrapped loops moved out by three per loop. `depth` is the number of open blocks the
   * labels are relative to.
   */
  private writeRelabeled(start: number, op: number, depth: number, wrappedUpTo: number[]): void {
    const { w, src } = this;
    const inner = depth > 0 ? wrappedUpTo[depth - 1] : 0;
    const adjust = (label: number): number => {
      const target = depth - 1 - label; // -1 is the function body itself
      if (target < -1) return label; // invalid; the engine will reject it
      return label + 3 * (inner - (target >= 0 ? wrappedUpTo[target] : 0));
    };
    let p = start + 1;
    const label = (): void => {
      w.u32(adjust(readLebAt(src, p)));
      p = skipLebAt(src, p);
    };
    w.u8(op);
    switch (op) {
      case 0x0e: {
        const n = readLebAt(src, p);
        w.u32(n);
        p = skipLebAt(src, p);
        for (let i = 0; i <= n; i++) label();
        return;
      }
      case 0x1f: {
        // try_table blocktype vec(catch); catch labels are relative to the try_table's context
        const btStart = p;
        // A (ref null? ht) block type is its prefix byte plus a heap type; anything else is one LEB.
        p = src[p] === 0x63 || src[p] === 0x64 ? skipLebAt(src, p + 1) : skipLebAt(src, p);
        w.copy(src, btStart, p);
        const n = readLebAt(src, p);
        w.u32(n);
        p = skipLebAt(src, p);
        for (let i = 0; i < n; i++) {
          const kind = src[p++];
          w.u8(kind);
          if (kind <= 0x01) {
            w.u32(readLebAt(src, p));
            p = skipLebAt(src, p);
          }
          label();
        }
        return;
      }
      case 0xfb: {
        // br_on_cast(_fail): subop, flags, label, two heap types
        const subStart = p;
        p = skipLebAt(src, p) + 1;
        w.copy(src, subStart, p);
        label();
        w.copy(src, p, this.r.pos);
        return;
      }
      default:
        label();
    }
  }

  /**
   * `$refuel (param $counter i64) (result i64)`: the slow path shared by every check. Publishes the
   * counter, lets the host act on it, and returns the counter to continue with. A host may return
   * without refilling (the runtime does while the start function runs and the export is not
   * reachable yet); returning 0 then lets the guest go on, calling again at its next check. Out of
   * line, it keeps each check site a few bytes long.
   */
  private writeRefuel(): void {
    const { w } = this;
    const fuel = leb(this.fuelGlobal);
    const body = [
      0x00, // no locals
      0x20, 0x00, 0x24, ...fuel, // global.set $fuel (local.get $counter)
      0x10, ...leb(this.outOfFuelFunc),
      0x42, 0x00, // i64.const 0
      0x23, ...fuel, 0x22, 0x00, // global.get $fuel; local.tee $counter
      0x20, 0x00, 0x42, 0x00, 0x53, // local.get $counter; i64.const 0; i64.lt_s
      0x1b, // select: 0 when negative, else the counter
      0x0b,
    ];
    w.u32(body.length);
    w.bytes(body);
  }

  private writeGrowWrapper(m: number): void {
    const { w } = this;
    const mem = leb(m);
    if (this.layout.memory64[m]) {
      // A delta over 2^32 pages can never succeed; below it, pages and sizes fit the host's i32 operands.
      const body64 = [
        0x00,
        0x20, 0x00, ...i64Const(0xffffffffn), 0x56, // local.get $delta; i64.gt_u
        0x04, 0x7e, 0x42, 0x7f, // if (result i64) i64.const -1
        0x05,
        0x41, ...sleb32(m), 0x20, 0x00, 0xa7, 0x3f, ...mem, 0xa7, // memidx, wrapped delta, wrapped memory.size
        0x10, ...leb(this.memoryGrowFunc),
        0x04, 0x7e, 0x20, 0x00, 0x40, ...mem, 0x05, 0x42, 0x7f, 0x0b, // if: memory.grow, else -1
        0x0b,
        0x0b,
      ];
      w.u32(body64.length);
      w.bytes(body64);
      return;
    }
    const body = [
      0x00, // no locals
      0x41, ...sleb32(m), // i32.const memidx
      0x20, 0x00, // local.get $delta
      0x3f, ...mem, // memory.size m
      0x10, ...leb(this.memoryGrowFunc),
      0x04, 0x7f, // if (result i32)
      0x20, 0x00, 0x40, ...mem, // memory.grow m
      0x05, 0x41, 0x7f, // else i32.const -1
      0x0b,
      0x0b,
    ];
    w.u32(body.length);
    w.bytes(body);
  }

  /**
   * The operand of a bulk instruction at `at` (an 0xFC instruction) that sizes its work: whether it
   * is an i64 and how far to shift it right to get fuel units. Undefined for other instructions.
   */
  private bulkOperand(at: number): { is64: boolean; shift: number } | undefined {
    const { src, layout } = this;
    const sub = readLebAt(src, at + 1);
    const p = skipLebAt(src, at + 1);
    const first = readLebAt(src, p);
    const second = readLebAt(src, skipLebAt(src, p));
    switch (sub) {
      case 8: // memory.init: the length is an i32 whatever the memory
        return { is64: false, shift: BYTES_SHIFT };
      case 10: // memory.copy dst src: i64 only between two 64-bit memories
        return { is64: layout.memory64[first] === true && layout.memory64[second] === true, shift: BYTES_SHIFT };
      case 11: // memory.fill mem
        return { is64: layout.memory64[first] === true, shift: BYTES_SHIFT };
      case 12: // table.init
        return { is64: false, shift: ELEMENTS_SHIFT };
      case 14: // table.copy dst src
        return { is64: layout.table64[first] === true && layout.table64[second] === true, shift: ELEMENTS_SHIFT };
      case 15: // table.grow
      case 17: // table.fill
        return { is64: layout.table64[first] === true, shift: ELEMENTS_SHIFT };
      default:
        return undefined;
    }
  }

  /** `$check_array (param $len i32) (result i32)`: calls array_too_large when `$len` is over the cap; returns `$len`. */
  private writeCheckArray(): void {
    const { w } = this;
    const body = [
      0x00,
      0x20, 0x00, 0x41, ...sleb32(this.opts.maxArrayElements!), 0x4b, // local.get $len; i32.const cap; i32.gt_u
      0x04, 0x40, 0x20, 0x00, 0x10, ...leb(this.arrayTooLargeFunc), 0x0b,
      0x20, 0x00,
      0x0b,
    ];
    w.u32(body.length);
    w.bytes(body);
  }

  /** Charges the size operand on top of the stack (left in place) before the bulk instruction that follows. */
  private writeBulkCharge(is64: boolean, shift: number, seq: CheckSequences): void {
    const { w } = this;
    w.bytes(seq.spill);
    w.bytes([0x41, shift, 0x10]); // i32.const shift; call
    w.u32(is64 ? this.charge64Func : this.charge32Func);
    w.bytes(seq.reload);
  }

  /**
   * `$charge32 (param $n i32) (param $shift i32) (result i32)` and its i64 twin: charges `$n >> $shift`
   * units to the fuel global, takes the slow path when that makes it negative, and returns `$n`. The
   * i64 charge is capped at 2^48 units so that a huge operand cannot wrap the counter to positive.
   */
  private writeChargeHelper(is64: boolean): void {
    const { w } = this;
    const fuel = leb(this.fuelGlobal);
    const units = is64
      ? [0x20, 0x00, 0x20, 0x01, 0xad, 0x88, 0x22, 0x02, ...i64Const(BULK_CHARGE_CAP), 0x20, 0x02, ...i64Const(BULK_CHARGE_CAP), 0x54, 0x1b]
      : [0x20, 0x00, 0xad, 0x20, 0x01, 0xad, 0x88]; // extend n and shift; shift right
    const body = [
      ...(is64 ? [0x01, 0x01, 0x7e] : [0x00]), // one i64 local for the capped charge
      0x23, ...fuel,
      ...units,
      0x7d, 0x24, ...fuel, // i64.sub; global.set $fuel
      0x23, ...fuel, 0x42, 0x00, 0x53, // global.get $fuel; i64.const 0; i64.lt_s
      0x04, 0x40, 0x23, ...fuel, 0x10, ...leb(this.refuelFunc), 0x24, ...fuel, 0x0b, // if: refuel
      0x20, 0x00,
      0x0b,
    ];
    w.u32(body.length);
    w.bytes(body);
  }
}

/**
 * Whether the instruction at `at` can transfer control out of the function (or into code that
 * reads the fuel global) other than by a direct call: return, tail calls, throws, and branches
 * whose target is the function's own label (`depth` = number of open blocks).
 */
function leavesFunction(src: Uint8Array, at: number, op: number, depth: number): boolean {
  switch (op) {
    case 0x0f: // return
    case 0x08: // throw
    case 0x0a: // throw_ref
    case 0x11: // call_indirect
    case 0x13: // return_call_indirect
    case 0x14: // call_ref
    case 0x15: // return_call_ref
      return true;
    case 0x0b: // the function's final end
      return depth === 0;
    case 0x0c: // br
    case 0x0d: // br_if
    case 0xd5: // br_on_null
    case 0xd6: // br_on_non_null
      return readLebAt(src, at + 1) === depth;
    case 0x0e: {
      // br_table: any target may be the function label
      let p = at + 1;
      const n = readLebAt(src, p);
      p = skipLebAt(src, p);
      for (let i = 0; i <= n; i++) {
        if (readLebAt(src, p) === depth) return true;
        p = skipLebAt(src, p);
      }
      return false;
    }
    case 0xfb: {
      // br_on_cast / br_on_cast_fail: flags byte then label
      const sub = readLebAt(src, at + 1);
      if (sub !== 24 && sub !== 25) return false;
      return readLebAt(src, skipLebAt(src, at + 1) + 1) === depth;
    }
    default:
      return false;
  }
}

/** GC instructions that allocate an array whose length is the operand on top of the stack. */
function allocatesArray(sub: number): boolean {
  return sub === 6 || sub === 7 || sub === 9 || sub === 10; // array.new, array.new_default, array.new_data, array.new_elem
}

/** Instructions with label immediates (rethrow and delegate included). */
function hasLabels(src: Uint8Array, at: number, op: number): boolean {
  switch (op) {
    case 0x09:
    case 0x0c:
    case 0x0d:
    case 0x0e:
    case 0x18:
    case 0x1f:
    case 0xd5:
    case 0xd6:
      return true;
    case 0xfb: {
      const sub = readLebAt(src, at + 1);
      return sub === 24 || sub === 25;
    }
    default:
      return false;
  }
}

function leb(v: number): number[] {
  const out: number[] = [];
  let n = v >>> 0;
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function i64Const(v: bigint): number[] {
  const w = new ByteWriter(16);
  w.s64(v);
  return [0x42, ...w.finish()];
}

function sleb32(v: number): number[] {
  const w = new ByteWriter(8);
  w.s32(v);
  return [...w.finish()];
}

function nameBytes(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...leb(b.length), ...b];
}

/** Reads a u32 LEB that `readOp` has already validated, so no bounds checks are needed. */
function readLebAt(buf: Uint8Array, at: number): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 5; i++) {
    const b = buf[at + i];
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result;
    scale *= 128;
  }
  return result;
}

function skipLebAt(buf: Uint8Array, at: number): number {
  for (let i = 0; i < 5; i++) if (buf[at + i] < 0x80) return at + i + 1;
  return at + 5;
}
