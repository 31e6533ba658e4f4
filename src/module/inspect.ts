/**
 * Static inspection: decodes a binary's structure into a `ModuleInfo` without compiling or
 * instantiating it. Anything malformed is an `InvalidModule`; semantic validation (typing of code)
 * stays with the engine.
 */
import { BinaryReader } from './binary-reader.ts';
import { InvalidModule } from '../errors.ts';
import { inspectComponent } from './component.ts';
import { skipConstExpr } from './instructions.ts';
import type { ExportInfo, ExternKind, FuncSignature, GlobalInfo, ImportInfo, MemoryInfo, ModuleInfo, TableInfo } from './module-info.ts';
import {
  readPreamble,
  scanCoreSections,
  SEC_CODE,
  SEC_CUSTOM,
  SEC_DATA,
  SEC_DATA_COUNT,
  SEC_ELEMENT,
  SEC_EXPORT,
  SEC_FUNCTION,
  SEC_GLOBAL,
  SEC_IMPORT,
  SEC_MEMORY,
  SEC_START,
  SEC_TABLE,
  SEC_TAG,
  SEC_TYPE,
  sectionName,
} from './sections.ts';
import { readLimits, readTypeSection, readValType, skipValType, type TypeEntry } from './wasm-types.ts';

const PREVIEW1_MODULES = new Set(['wasi_snapshot_preview1', 'wasi_unstable']);

/** Accepts the byte containers callers actually have; anything else is not a module. */
export function toBytes(input: Uint8Array | ArrayBuffer): Uint8Array {
  // Typed loosely on purpose: JavaScript callers can pass anything.
  const value: unknown = input;
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new InvalidModule('module bytes must be a Uint8Array or ArrayBuffer');
}

/** Cheap check of the preamble alone: true for a component binary, false for anything else. */
export function isComponent(bytes: Uint8Array | ArrayBuffer): boolean {
  let b: Uint8Array;
  try {
    b = toBytes(bytes);
  } catch {
    return false;
  }
  return b.length >= 8 && b[0] === 0x00 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d && b[6] === 0x01 && b[7] === 0x00;
}

/**
 * Reads what a core module or component imports and exports, without compiling or running it; `InvalidModule`
 * (with the byte `offset`) when the bytes are not a well-formed module.
 */
export function inspect(input: Uint8Array | ArrayBuffer): ModuleInfo {
  const bytes = toBytes(input);
  if (readPreamble(bytes) === 'component') return inspectComponent(bytes);
  return inspectCore(bytes);
}

function funcType(r: BinaryReader, types: TypeEntry[], typeIndex: number, at: number): FuncSignature {
  const t = types[typeIndex];
  if (typeIndex >= types.length) r.fail(`type index ${typeIndex} out of range (${types.length} types)`, at);
  if (t === null) r.fail(`type ${typeIndex} is not a function type`, at);
  return t;
}

function memoryInfo(r: BinaryReader, imported: boolean): MemoryInfo {
  const l = readLimits(r);
  return { min: l.min, max: l.max, shared: l.shared, memory64: l.is64, imported };
}

function tableInfo(r: BinaryReader, imported: boolean): TableInfo {
  const elementType = readValType(r);
  const l = readLimits(r);
  return { elementType, min: l.min, max: l.max, imported };
}

function globalInfo(r: BinaryReader, imported: boolean): GlobalInfo {
  const type = readValType(r);
  const at = r.pos;
  const m = r.u8();
  if (m > 1) r.fail(`invalid global mutability ${m}`, at);
  return { type, mutable: m === 1, imported };
}

const EXTERN_KINDS: ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];

function inspectCore(bytes: Uint8Array): ModuleInfo {
  const r = new BinaryReader(bytes, 8);
  const sections = scanCoreSections(r);

  let types: TypeEntry[] = [];
  const funcTypes: number[] = []; // type index of every function, imports first
  const tagTypes: number[] = [];
  const imports: ImportInfo[] = [];
  const exports: ExportInfo[] = [];
  const memories: MemoryInfo[] = [];
  const tables: TableInfo[] = [];
  const globals: GlobalInfo[] = [];
  const customSections: string[] = [];
  let importedFuncs = 0;
  let definedFuncs: number | null = null;
  let codeCount: number | null = null;
  let dataCount: number | null = null;
  let startFunction: number | null = null;
  let wasi: ModuleInfo['wasi'] = null;

  for (const s of sections) {
    r.pos = s.start;
    r.end = s.end;
    switch (s.id) {
      case SEC_CUSTOM:
        customSections.push(s.name!);
        r.pos = s.end;
        break;
      case SEC_TYPE:
        types = readTypeSection(r);
        break;
      case SEC_IMPORT: {
        const n = r.count(4);
        for (let i = 0; i < n; i++) {
          const module = r.name();
          const name = r.name();
          const kindAt = r.pos;
          const kind = r.u8();
          if (PREVIEW1_MODULES.has(module)) wasi = 'preview1';
          switch (kind) {
            case 0x00: {
              const at = r.pos;
              const idx = r.u32();
              imports.push({ module, name, kind: 'function', signature: funcType(r, types, idx, at) });
              funcTypes.push(idx);
              importedFuncs++;
              break;
            }
            case 0x01: {
              const table = tableInfo(r, true);
              tables.push(table);
              imports.push({ module, name, kind: 'table', table });
              break;
            }
            case 0x02: {
              const memory = memoryInfo(r, true);
              memories.push(memory);
              imports.push({ module, name, kind: 'memory', memory });
              break;
            }
            case 0x03: {
              const global = globalInfo(r, true);
              globals.push(global);
              imports.push({ module, name, kind: 'global', global });
              break;
            }
            case 0x04: {
              const attrAt = r.pos;
              if (r.u8() !== 0) r.fail('invalid tag attribute', attrAt);
              const at = r.pos;
              const idx = r.u32();
              imports.push({ module, name, kind: 'tag', signature: funcType(r, types, idx, at) });
              tagTypes.push(idx);
              break;
            }
            default:
              r.fail(`unknown import kind 0x${kind.toString(16)}`, kindAt);
          }
        }
        break;
      }
      case SEC_FUNCTION: {
        const n = r.count();
        for (let i = 0; i < n; i++) {
          const at = r.pos;
          const idx = r.u32();
          funcType(r, types, idx, at);
          funcTypes.push(idx);
        }
        definedFuncs = n;
        break;
      }
      case SEC_TABLE: {
        const n = r.count(3);
        for (let i = 0; i < n; i++) {
          if (r.peek() === 0x40) {
            // table with an explicit initializer expression
            r.pos++;
            const at = r.pos;
            if (r.u8() !== 0x00) r.fail('invalid table encoding', at);
            tables.push(tableInfo(r, false));
            skipConstExpr(r);
          } else {
            tables.push(tableInfo(r, false));
          }
        }
        break;
      }
      case SEC_MEMORY: {
        const n = r.count(2);
        for (let i = 0; i < n; i++) memories.push(memoryInfo(r, false));
        break;
      }
      case SEC_TAG: {
        const n = r.count(2);
        for (let i = 0; i < n; i++) {
          const attrAt = r.pos;
          if (r.u8() !== 0) r.fail('invalid tag attribute', attrAt);
          const at = r.pos;
          const idx = r.u32();
          funcType(r, types, idx, at);
          tagTypes.push(idx);
        }
        break;
      }
      case SEC_GLOBAL: {
        const n = r.count(3);
        for (let i = 0; i < n; i++) {
          globals.push(globalInfo(r, false));
          skipConstExpr(r);
        }
        break;
      }
      case SEC_EXPORT: {
        const n = r.count(3);
        for (let i = 0; i < n; i++) {
          const name = r.name();
          const kindAt = r.pos;
          const kindByte = r.u8();
          const kind = EXTERN_KINDS[kindByte];
          if (kind === undefined) r.fail(`unknown export kind 0x${kindByte.toString(16)}`, kindAt);
          const idxAt = r.pos;
          const index = r.u32();
          const e: ExportInfo = { name, kind, index };
          const outOfRange = (count: number): void => {
            if (index >= count) r.fail(`exported ${kind} index ${index} out of range`, idxAt);
          };
          if (kind === 'function') {
            outOfRange(funcTypes.length);
            e.signature = types[funcTypes[index]] as FuncSignature;
          } else if (kind === 'table') {
            outOfRange(tables.length);
            e.table = tables[index];
          } else if (kind === 'memory') {
            outOfRange(memories.length);
            e.memory = memories[index];
          } else if (kind === 'global') {
            outOfRange(globals.length);
            e.global = globals[index];
          } else {
            outOfRange(tagTypes.length);
            e.signature = types[tagTypes[index]] as FuncSignature;
          }
          exports.push(e);
        }
        break;
      }
      case SEC_START: {
        const at = r.pos;
        startFunction = r.u32();
        if (startFunction >= funcTypes.length) r.fail(`start function index ${startFunction} out of range`, at);
        break;
      }
      case SEC_ELEMENT:
        skipElementSection(r);
        break;
      case SEC_DATA_COUNT:
        dataCount = r.u32();
        break;
      case SEC_CODE: {
        const n = r.count();
        codeCount = n;
        for (let i = 0; i < n; i++) {
          const size = r.u32();
          r.skip(size);
        }
        break;
      }
      case SEC_DATA: {
        const n = r.count();
        if (dataCount !== null && n !== dataCount) r.fail(`data count section says ${dataCount} segments but the data section has ${n}`, s.start);
        for (let i = 0; i < n; i++) {
          const at = r.pos;
          const flags = r.u32();
          if (flags === 0) skipConstExpr(r);
          else if (flags === 2) {
            r.u32();
            skipConstExpr(r);
          } else if (flags !== 1) r.fail(`invalid data segment flags ${flags}`, at);
          r.skip(r.u32());
        }
        break;
      }
    }
    if (r.pos !== s.end) r.fail(`${sectionName(s.id)} section contents end at ${r.pos}, not at the declared end ${s.end}`, r.pos);
  }

  const fnCount = definedFuncs ?? 0;
  if (fnCount !== (codeCount ?? 0)) {
    throw new InvalidModule(`function section declares ${fnCount} functions but the code section has ${codeCount ?? 0} bodies`, { offset: bytes.length });
  }
  if (dataCount !== null && dataCount > 0 && !sections.some((s) => s.id === SEC_DATA)) {
    throw new InvalidModule(`data count section says ${dataCount} segments but there is no data section`, { offset: bytes.length });
  }

  return {
    kind: 'core',
    size: bytes.length,
    imports,
    exports,
    memories,
    tables,
    globals,
    functions: fnCount,
    startFunction,
    customSections,
    wasi,
  };
}

/** Element segments in all eight encodings (flags 0-7), skipped structurally. */
function skipElementSection(r: BinaryReader): void {
  const n = r.count();
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const flags = r.u32();
    if (flags > 7) r.fail(`invalid element segment flags ${flags}`, at);
    const passiveOrDeclarative = (flags & 0x01) !== 0;
    const explicitTable = (flags & 0x02) !== 0;
    const usesExpressions = (flags & 0x04) !== 0;
    if (!passiveOrDeclarative) {
      if (explicitTable) r.u32();
      skipConstExpr(r);
    }
    // Flags 0 and 4 imply funcref; every other form states the element kind or type.
    if (passiveOrDeclarative || explicitTable) {
      if (usesExpressions) skipValType(r);
      else {
        const kindAt = r.pos;
        if (r.u8() !== 0x00) r.fail('invalid element kind', kindAt);
      }
    }
    const count = r.count();
    for (let j = 0; j < count; j++) {
      if (usesExpressions) skipConstExpr(r);
      else r.u32();
    }
  }
}
