/**
 * Resource-limit instrumentation: rewrites a core module in one pass so that the limits V8 cannot
 * enforce by itself become part of the guest code. Pure function of (bytes, options); callers cache.
 *
 * HOST CONTRACT (see also docs/instrumentation.md)
 *
 * Reserved names. The import module name `wasm_sandbox` and the export name `__wasm_sandbox_fuel`
 * belong to the sandbox. `instrument()` refuses a guest that imports anything from `wasm_sandbox`
 * (SecurityViolation) or, when metering, already exports `__wasm_sandbox_fuel` (InvalidModule).
 *
 * Added imports, appended after the guest's own imports, in this order:
 *   - when `meter`:            wasm_sandbox.out_of_fuel  : () -> ()
 *   - when `routeMemoryGrow`:  wasm_sandbox.memory_grow  : (memidx i32, delta_pages i32, current_pages i32) -> i32
 * Both are added whenever their option is on (even if the guest never grows memory), so the host
 * can always supply the same import object. Every guest function index at or above the number of
 * guest function imports shifts up by the number of added imports; calls, return_calls, ref.func,
 * element segments, exports and the start function are rewritten accordingly. The `name` custom
 * section (and any `metadata.code.*` section) is dropped when indices shift.
 *
 * Fuel (when `meter`): a new mutable i64 global, appended after the guest's globals and exported
 * as `__wasm_sandbox_fuel`, starting at `initialFuel` (default 0). At every function entry and at
 * the top of every loop iteration the guest executes
 *     global.get $fuel; i64.const COST; i64.sub; global.tee $fuel;
 *     i64.const 0; i64.lt_s; if; call $out_of_fuel; end
 * so `out_of_fuel` runs whenever the counter has gone negative. The host then either refills the
 * counter through the exported global and returns (execution continues), or throws to stop the
 * guest. The counter is not re-checked after `out_of_fuel` returns, so a host that returns without
 * refilling grants the rest of that region for free and is called again at the next check.
 * Because the export exists only after instantiation, checks run by the start function can only
 * be paid for by `initialFuel` (or stopped by throwing).
 *
 * Cost model `fuel-v1` (deterministic, static): one unit per instruction of the original code.
 * A function body and each loop body are "regions"; a region's cost is the number of
 * instructions it contains, counting nested blocks/ifs/trys but not nested loops' bodies (the
 * nested `loop` instruction itself counts for the outer region, its body and its `end` for the
 * inner one), with a minimum of 1. The region's cost is charged on entry (function call, or each
 * iteration of a loop, including the first). Since control can only go back to a loop header, no
 * instruction runs twice per charge, so the charge is an upper bound of the instructions executed.
 * Instrumentation code and host calls are free; bulk instructions (memory.fill, memory.copy, ...)
 * cost one unit regardless of size.
 *
 * Memory growth (when `routeMemoryGrow`): each 32-bit memory m (imported or defined) gets an
 * injected function `(param $delta i32) (result i32)` that calls
 * `wasm_sandbox.memory_grow(m, delta, memory.size m)`; on a non-zero result it performs the real
 * `memory.grow m` (which may still fail against the declared maximum and return -1), otherwise it
 * returns -1 like a failed grow. The host may also throw to trap. Every `memory.grow m` in guest
 * code becomes a call to that function. memory64 memories are not routed (their grow takes i64);
 * they are still bounded by `memoryMaxPages`.
 *
 * Limits: `memoryMaxPages` / `tableMaxElements` clamp the declared maximum of every defined memory
 * / table (adding one where absent); an initial size above the limit throws ResourceLimitExceeded
 * ('memory' in bytes, 'table' in elements). Imported memories and tables are the host's to size.
 */
import { BinaryReader } from './binary-reader.ts';
import { ByteWriter } from './binary-writer.ts';
import { InvalidArguments, InvalidModule, ResourceLimitExceeded, SecurityViolation } from '../errors.ts';
import { toBytes } from './inspect.ts';
import { OP_CALL, OP_DELEGATE, OP_END, OP_LOOP, OP_MEMORY_GROW, OP_REF_FUNC, OP_RETURN_CALL, opensBlock, readOp, skipBlockType } from './instructions.ts';
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
import { readLimits, readTypeSection, skipValType, type Limits } from './wasm-types.ts';

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
}

export interface InstrumentResult {
  bytes: Uint8Array;
  /** Identifies the fuel cost model (`'none'` without metering), e.g. for cache keys and reports. */
  meterCostModel: string;
}

export const RESERVED_IMPORT_MODULE = 'wasm_sandbox';
export const OUT_OF_FUEL_IMPORT = 'out_of_fuel';
export const MEMORY_GROW_IMPORT = 'memory_grow';
export const FUEL_EXPORT = '__wasm_sandbox_fuel';
export const METER_COST_MODEL = 'fuel-v1';

const PAGE_BYTES = 65536;
const MAX_MEMORY32_PAGES = 65536;
const MAX_U32 = 0xffffffff;

const CTL_BLOCK = 0;
const CTL_METERED_LOOP = 1;

/** What the pre-pass learns before anything is written. */
interface Layout {
  typeCount: number;
  importedFuncs: number;
  importedGlobals: number;
  definedFuncs: number;
  definedGlobals: number;
  /** For every memory in index space order: is it 64-bit. */
  memory64: boolean[];
}

function checkOptions(opts: InstrumentOptions): void {
  const limit = (value: number | undefined, name: string): void => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new InvalidArguments(`${name} must be a non-negative integer, got ${String(value)}`, { expected: 'non-negative integer' });
    }
  };
  limit(opts.memoryMaxPages, 'memoryMaxPages');
  limit(opts.tableMaxElements, 'tableMaxElements');
  if (opts.initialFuel !== undefined && typeof opts.initialFuel !== 'bigint') {
    throw new InvalidArguments('initialFuel must be a bigint', { expected: 'bigint' });
  }
}

function prePass(r: BinaryReader, sections: Section[]): Layout {
  const layout: Layout = { typeCount: 0, importedFuncs: 0, importedGlobals: 0, definedFuncs: 0, definedGlobals: 0, memory64: [] };
  let codeCount = 0;
  for (const s of sections) {
    r.pos = s.start;
    r.end = s.end;
    switch (s.id) {
      case SEC_TYPE:
        layout.typeCount = readTypeSection(r).length;
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
            readLimits(r);
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
      case SEC_FUNCTION:
        layout.definedFuncs = r.count();
        break;
      case SEC_MEMORY: {
        const n = r.count(2);
        for (let i = 0; i < n; i++) layout.memory64.push(readLimits(r).is64);
        break;
      }
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

export function instrument(input: Uint8Array, opts: InstrumentOptions): InstrumentResult {
  checkOptions(opts);
  const bytes = toBytes(input);
  if (readPreamble(bytes) === 'component') throw new InvalidModule('components cannot be instrumented; only core modules are supported', { offset: 6 });
  const r = new BinaryReader(bytes, 8);
  const sections = scanCoreSections(r);
  const layout = prePass(r, sections);
  return new Rewriter(bytes, r, sections, layout, opts).run();
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
  private readonly checkPrefix: Uint8Array;
  private readonly checkSuffix: Uint8Array;

  constructor(src: Uint8Array, r: BinaryReader, sections: Section[], layout: Layout, opts: InstrumentOptions) {
    this.src = src;
    this.r = r;
    this.sections = sections;
    this.layout = layout;
    this.opts = opts;
    this.w = new ByteWriter(src.length + (src.length >> 3) + 256);

    this.shift = (opts.meter ? 1 : 0) + (opts.routeMemoryGrow ? 1 : 0);
    this.outOfFuelFunc = opts.meter ? layout.importedFuncs : -1;
    this.memoryGrowFunc = opts.routeMemoryGrow ? layout.importedFuncs + (opts.meter ? 1 : 0) : -1;
    this.fuelGlobal = layout.importedGlobals + layout.definedGlobals;

    this.growWrapper = layout.memory64.map(() => -1);
    this.wrapperMemories = [];
    if (opts.routeMemoryGrow) {
      const firstWrapper = layout.importedFuncs + this.shift + layout.definedFuncs;
      layout.memory64.forEach((is64, m) => {
        if (is64) return;
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
    this.outOfFuelType = opts.meter ? addType([], []) : -1;
    this.memoryGrowType = opts.routeMemoryGrow ? addType([I32, I32, I32], [I32]) : -1;
    this.wrapperType = this.wrapperMemories.length > 0 ? addType([I32], [I32]) : -1;

    const fuel = leb(this.fuelGlobal);
    this.checkPrefix = new Uint8Array([0x23, ...fuel, 0x42]);
    this.checkSuffix = new Uint8Array([0x7d, 0x24, ...fuel, 0x42, 0x00, 0x53, 0x04, 0x40, 0x10, ...leb(this.outOfFuelFunc), 0x0b]);
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
        if (!this.dropCustom(s.name!)) w.copy(src, s.headerStart, s.end);
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
    want(SEC_FUNCTION, this.wrapperMemories.length > 0);
    want(SEC_GLOBAL, this.opts.meter);
    want(SEC_EXPORT, this.opts.meter);
    want(SEC_CODE, this.wrapperMemories.length > 0);
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
    return name === 'name' || name.startsWith('metadata.code.');
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
        needed = this.wrapperMemories.length > 0;
        break;
      case SEC_TABLE:
        needed = shifting || opts.tableMaxElements !== undefined;
        break;
      case SEC_MEMORY:
        needed = opts.memoryMaxPages !== undefined;
        break;
      case SEC_GLOBAL:
      case SEC_EXPORT:
        needed = shifting || opts.meter;
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
        return this.appendToVector(fromInput, entries);
      }
      case SEC_FUNCTION:
        return this.appendToVector(
          fromInput,
          this.wrapperMemories.map(() => leb(this.wrapperType)),
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
      this.writeLimits(l, this.opts.tableMaxElements, l.is64 ? Number.MAX_SAFE_INTEGER : MAX_U32, 'table');
      if (withInit) this.copyConstExpr();
    }
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
    w.u32(n + (this.opts.meter ? 1 : 0));
    for (let i = 0; i < n; i++) {
      const start = r.pos;
      const name = r.name();
      if (this.opts.meter && name === FUEL_EXPORT) r.fail(`export name '${FUEL_EXPORT}' is reserved for the sandbox`, start);
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
    w.u32(n + this.wrapperMemories.length);
    const sectionEnd = r.end;
    for (let i = 0; i < n; i++) {
      const sizeAt = r.pos;
      const size = r.u32();
      if (size > sectionEnd - r.pos) r.fail(`function body size ${size} exceeds the code section`, sizeAt);
      const bodyEnd = r.pos + size;
      r.end = bodyEnd;
      const at = w.reserve();
      this.writeBody(bodyEnd);
      w.patchU32(at, w.sinceReserved(at));
      r.end = sectionEnd;
    }
    for (const m of this.wrapperMemories) this.writeGrowWrapper(m);
  }

  private emitCheck(): number {
    const { w } = this;
    w.bytes(this.checkPrefix);
    const at = w.reserve();
    w.bytes(this.checkSuffix);
    return at;
  }

  /** Copies one function body (reader window = the body), rewriting what the options require. */
  private writeBody(bodyEnd: number): void {
    const { r, w, src } = this;
    const meter = this.opts.meter;
    const shift = this.shift;
    const importedFuncs = this.layout.importedFuncs;
    const growWrapper = this.growWrapper;

    const declAt = r.pos;
    const decls = r.count(2);
    for (let d = 0; d < decls; d++) {
      r.u32();
      skipValType(r);
    }
    w.copy(src, declAt, r.pos);

    // Instruction counts of the enclosing regions (function body, then each open metered loop).
    const patchAt: number[] = [];
    const outerCounts: number[] = [];
    const ctl: number[] = [];
    let count = 0;
    let functionPatch = -1;
    if (meter) functionPatch = this.emitCheck();

    let run = r.pos;
    for (;;) {
      const start = r.pos;
      if (start >= bodyEnd) r.fail('function body ends before its final end', start);
      const op = src[start];
      count++;
      if (op === OP_CALL || op === OP_RETURN_CALL || op === OP_REF_FUNC) {
        r.pos = start + 1;
        const f = r.u32();
        if (shift > 0 && f >= importedFuncs) {
          w.copy(src, run, start);
          w.u8(op);
          w.u32(f + shift);
          run = r.pos;
        }
      } else if (op === OP_MEMORY_GROW) {
        r.pos = start + 1;
        const m = r.u32();
        const wrapper = m < growWrapper.length ? growWrapper[m] : -1;
        if (wrapper >= 0) {
          w.copy(src, run, start);
          w.u8(OP_CALL);
          w.u32(wrapper);
          run = r.pos;
        }
      } else if (op === OP_LOOP && meter) {
        r.pos = start + 1;
        skipBlockType(r);
        w.copy(src, run, r.pos);
        patchAt.push(this.emitCheck());
        outerCounts.push(count);
        count = 0;
        ctl.push(CTL_METERED_LOOP);
        run = r.pos;
      } else {
        readOp(r);
        if (op === OP_END || op === OP_DELEGATE) {
          if (ctl.length === 0) {
            if (op === OP_DELEGATE) r.fail('delegate outside a try block', start);
            break;
          }
          if (ctl.pop() === CTL_METERED_LOOP) {
            w.patchS64(patchAt.pop()!, count);
            count = outerCounts.pop()!;
          }
        } else if (opensBlock(op)) {
          ctl.push(CTL_BLOCK);
        }
      }
    }
    if (r.pos !== bodyEnd) r.fail(`function body ends at ${r.pos}, before its declared end ${bodyEnd}`, r.pos);
    w.copy(src, run, r.pos);
    if (meter) w.patchS64(functionPatch, count);
  }

  private writeGrowWrapper(m: number): void {
    const { w } = this;
    const mem = leb(m);
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

function sleb32(v: number): number[] {
  const w = new ByteWriter(8);
  w.s32(v);
  return [...w.finish()];
}

function nameBytes(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...leb(b.length), ...b];
}

/** Re-reads a u32 LEB that `readOp` already validated. */
function readLebAt(buf: Uint8Array, at: number): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[at++];
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return result;
    shift += 7;
  }
}
