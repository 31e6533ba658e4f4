/**
 * Which post-MVP proposals a core module uses, read from its binary: the types it declares, its
 * memories, tables, imports and globals, and (on request) every instruction of its code. What a
 * runtime accepts of them is decided in `runtime/feature-policy.ts`; this file only finds them, with
 * the first place each shows up.
 *
 * The declarations alone show every feature whose risk needs them: a shared memory to wait on, GC
 * struct and array types to allocate, continuation types. Walking the code costs about ten times a
 * lazy compile, so it is done only when an instruction could decide (a user refusing, say, SIMD).
 * Atomic instructions on a memory that is not shared are single-threaded accesses (a wait traps):
 * they count as 'threads' only in the code walk.
 */
import { BinaryReader } from './binary-reader.ts';
import { opensBlock, OP_END, readOp } from './instructions.ts';
import { readPreamble, scanCoreSections, SEC_CODE, SEC_DATA_COUNT, SEC_GLOBAL, SEC_IMPORT, SEC_MEMORY, SEC_TABLE, SEC_TAG, SEC_TYPE } from './sections.ts';
import { readHeapType, readLimits } from './wasm-types.ts';

/** The proposals the sandbox knows, by the key `WasmSandbox.create({ features })` takes. */
export const WASM_FEATURES = [
  'threads', 'gc', 'exceptions', 'tailCalls', 'simd', 'relaxedSimd', 'memory64', 'multiMemory', 'bulkMemory', 'referenceTypes',
  'functionReferences', 'stackSwitching',
] as const;

/** A WebAssembly proposal this sandbox can detect in a module and accept or refuse (see `FEATURE_POLICY`). */
export type WasmFeature = (typeof WASM_FEATURES)[number];

/** Each feature a module uses, with where it was first seen (e.g. `memory 0 is shared`, `struct.new at offset 120`). */
export type FeatureUse = Map<WasmFeature, string>;

/** Abstract heap types and the proposal each belongs to. */
const HEAP_FEATURE: Record<string, WasmFeature> = {
  func: 'referenceTypes', extern: 'referenceTypes',
  any: 'gc', eq: 'gc', i31: 'gc', struct: 'gc', array: 'gc', none: 'gc', noextern: 'gc', nofunc: 'gc',
  exn: 'exceptions', noexn: 'exceptions', cont: 'stackSwitching', nocont: 'stackSwitching',
};
const HEAP_BYTES = new Map<number, string>([
  [0x70, 'func'], [0x6f, 'extern'], [0x6e, 'any'], [0x6d, 'eq'], [0x6c, 'i31'], [0x6b, 'struct'], [0x6a, 'array'], [0x69, 'exn'],
  [0x68, 'cont'], [0x71, 'none'], [0x72, 'noextern'], [0x73, 'nofunc'], [0x74, 'noexn'], [0x75, 'nocont'],
]);

class Finder {
  readonly found: FeatureUse = new Map();
  readonly r: BinaryReader;
  memories = 0;
  tables = 0;

  readonly walkCode: boolean;

  constructor(r: BinaryReader, walkCode: boolean) {
    this.r = r;
    this.walkCode = walkCode;
  }

  note(feature: WasmFeature, where: string): void {
    if (!this.found.has(feature)) this.found.set(feature, where);
  }

  /** A value type, noted as used by `label index` (the text is made only for a feature seen first). */
  valType(label: string, index: number): void {
    const { r } = this;
    const b = r.u8();
    let feature: WasmFeature | undefined;
    let what = '';
    if (b === 0x7b) {
      feature = 'simd';
      what = 'v128';
    } else if (b === 0x63 || b === 0x64) {
      const heap = readHeapType(r);
      // A type index: a typed function reference, or a reference to a GC type (the type section says which).
      feature = HEAP_FEATURE[heap] ?? 'functionReferences';
      what = `reference to ${heap}`;
    } else if (b === 0x78 || b === 0x77) {
      feature = 'gc';
      what = 'packed field';
    } else {
      const heap = HEAP_BYTES.get(b);
      if (heap !== undefined) {
        feature = HEAP_FEATURE[heap];
        what = `${heap}ref`;
      }
    }
    if (feature !== undefined && !this.found.has(feature)) this.found.set(feature, `${label} ${index}: ${what}`);
  }

  limits(kind: 'memory' | 'table', index: number): void {
    const l = readLimits(this.r);
    if (l.shared) this.note('threads', `${kind} ${index} is shared`);
    if (l.is64) this.note('memory64', `${kind} ${index} is 64-bit`);
  }

  memory(): void {
    const index = this.memories++;
    this.limits('memory', index);
    if (this.memories > 1) this.note('multiMemory', `memory ${index}`);
  }

  table(): void {
    const index = this.tables++;
    // funcref tables are the MVP's; any other element type is a later proposal's.
    if (this.r.peek() === 0x70) this.r.pos++;
    else this.valType('table', index);
    this.limits('table', index);
    if (this.tables > 1) this.note('referenceTypes', `table ${index}`);
  }

  typeSection(): void {
    const { r } = this;
    const groups = r.count();
    let index = 0;
    for (let g = 0; g < groups; g++) {
      if (r.peek() === 0x4e) {
        r.pos++;
        this.note('gc', `type ${index}: rec group`);
        const n = r.count();
        for (let i = 0; i < n; i++) this.subType(index++);
      } else {
        this.subType(index++);
      }
    }
  }

  private subType(index: number): void {
    const { r } = this;
    const where = `type ${index}`;
    const valType = (): void => this.valType('type', index);
    const b = r.peek();
    if (b === 0x50 || b === 0x4f) {
      r.pos++;
      this.note('gc', `${where}: subtype`);
      const supers = r.count();
      for (let i = 0; i < supers; i++) r.u32();
    }
    const at = r.pos;
    const form = r.u8();
    if (form === 0x60) {
      for (let k = 0; k < 2; k++) {
        const n = r.count();
        for (let i = 0; i < n; i++) valType();
      }
    } else if (form === 0x5f || form === 0x5e) {
      this.note('gc', `${where}: ${form === 0x5f ? 'struct' : 'array'} type`);
      const n = form === 0x5f ? r.count(2) : 1;
      for (let i = 0; i < n; i++) {
        valType();
        r.u8();
      }
    } else if (form === 0x5d) {
      this.note('stackSwitching', `${where}: continuation type`);
      r.u32();
    } else {
      r.fail(`unknown type form 0x${form.toString(16)}`, at);
    }
  }

  importSection(): void {
    const { r } = this;
    const n = r.count(4);
    for (let i = 0; i < n; i++) {
      r.name();
      r.name();
      const kind = r.u8();
      if (kind === 0x00) r.u32();
      else if (kind === 0x01) this.table();
      else if (kind === 0x02) this.memory();
      else if (kind === 0x03) {
        this.valType('import', i);
        r.u8();
      } else if (kind === 0x04) {
        this.note('exceptions', `import ${i} is a tag`);
        r.u8();
        r.u32();
      } else r.fail(`unknown import kind 0x${kind.toString(16)}`, r.pos - 1);
    }
  }

  tableSection(): void {
    const { r } = this;
    const n = r.count(3);
    for (let i = 0; i < n; i++) {
      const withInit = r.peek() === 0x40;
      if (withInit) r.pos += 2;
      this.table();
      if (withInit) this.code(r.end, true);
    }
  }

  globalSection(): void {
    const { r } = this;
    const n = r.count(3);
    for (let i = 0; i < n; i++) {
      this.valType('global', i);
      r.u8();
      this.code(r.end, true);
    }
  }

  codeSection(): void {
    const { r } = this;
    if (!this.walkCode) return;
    const n = r.count();
    const sectionEnd = r.end;
    for (let i = 0; i < n; i++) {
      const size = r.u32();
      const end = r.pos + size;
      if (end > sectionEnd) r.fail(`function body size ${size} exceeds the code section`);
      r.end = end;
      const decls = r.count(2);
      for (let d = 0; d < decls; d++) {
        r.u32();
        this.valType('locals of function body', i);
      }
      this.code(end, false);
      r.pos = end;
      r.end = sectionEnd;
    }
  }

  /** Walks instructions up to `end`, or through one constant expression's final `end`. */
  private code(end: number, constExpr: boolean): void {
    const { r } = this;
    const src = r.buf;
    let depth = 0;
    while (r.pos < end) {
      const at = r.pos;
      const op = src[at];
      // The bulk of any code: numeric instructions and local/global accesses with a one-byte index.
      if (op >= 0x45 && op <= 0xc4) {
        r.pos++;
        continue;
      }
      if (op >= 0x20 && op <= 0x24 && src[at + 1] < 0x80) {
        r.pos += 2;
        continue;
      }
      readOp(r);
      this.instruction(op, at);
      if (op === OP_END) {
        if (depth === 0 && constExpr) return;
        depth--;
      } else if (opensBlock(op)) {
        depth++;
      }
    }
  }

  private instruction(op: number, at: number): void {
    let feature: WasmFeature | undefined;
    let also: WasmFeature | undefined;
    switch (op) {
      case 0x06: case 0x07: case 0x08: case 0x09: case 0x0a: case 0x18: case 0x19: case 0x1f:
        feature = 'exceptions';
        break;
      case 0x12: case 0x13:
        feature = 'tailCalls';
        break;
      case 0x15: // return_call_ref
        feature = 'tailCalls';
        also = 'functionReferences';
        break;
      case 0x14: case 0xd4: case 0xd5: case 0xd6:
        feature = 'functionReferences';
        break;
      case 0x1c: case 0x25: case 0x26: case 0xd0: case 0xd1: case 0xd2:
        feature = 'referenceTypes';
        break;
      case 0xd3: case 0xfb:
        feature = 'gc';
        break;
      case 0xfe:
        feature = 'threads';
        break;
      case 0xfc: {
        const sub = this.subOpcode(at);
        if (sub >= 8 && sub <= 14) feature = 'bulkMemory';
        else if (sub >= 15 && sub <= 17) feature = 'referenceTypes';
        break;
      }
      case 0xfd:
        feature = 'simd';
        if (this.subOpcode(at) >= 0x100) also = 'relaxedSimd';
        break;
      default:
        return;
    }
    const { found } = this;
    if (feature !== undefined && !found.has(feature)) found.set(feature, `instruction ${this.opName(op, at)} at offset ${at}`);
    if (also !== undefined && !found.has(also)) found.set(also, `instruction ${this.opName(op, at)} at offset ${at}`);
  }

  private opName(op: number, at: number): string {
    return op >= 0xfb ? `0x${op.toString(16)} ${this.subOpcode(at)}` : `0x${op.toString(16)}`;
  }

  /** The LEB sub-opcode of the prefixed instruction at `at` (already decoded by readOp, so well-formed). */
  private subOpcode(at: number): number {
    const src = this.r.buf;
    let result = 0;
    let scale = 1;
    for (let i = 1; i <= 5; i++) {
      const b = src[at + i];
      result += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
    }
    return result;
  }
}

/**
 * Every proposal a core module uses, with where it was first seen. Malformed input is an
 * `InvalidModule`; components are not inspected here (their core modules are, as they are loaded).
 */
export function detectFeatures(bytes: Uint8Array, options: { walkCode?: boolean } = {}): FeatureUse {
  if (readPreamble(bytes) === 'component') return new Map();
  const r = new BinaryReader(bytes, 8);
  const finder = new Finder(r, options.walkCode ?? true);
  for (const s of scanCoreSections(r)) {
    r.pos = s.start;
    r.end = s.end;
    switch (s.id) {
      case SEC_TYPE:
        finder.typeSection();
        break;
      case SEC_IMPORT:
        finder.importSection();
        break;
      case SEC_TABLE:
        finder.tableSection();
        break;
      case SEC_MEMORY: {
        const n = r.count(2);
        for (let i = 0; i < n; i++) finder.memory();
        break;
      }
      case SEC_GLOBAL:
        finder.globalSection();
        break;
      case SEC_TAG:
        finder.note('exceptions', 'tag section');
        break;
      case SEC_DATA_COUNT:
        finder.note('bulkMemory', 'data count section');
        break;
      case SEC_CODE:
        finder.codeSection();
        break;
    }
  }
  return finder.found;
}
