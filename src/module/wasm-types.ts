/**
 * Decoders for the type-level encodings shared by the inspector and the instrumenter: value and
 * heap types, limits, and the type section (including GC rec groups and subtypes, which are
 * decoded only far enough to count type indices and skip them correctly).
 */
import type { BinaryReader } from './binary-reader.ts';
import type { FuncSignature, ValType } from './module-info.ts';

/** Abstract heap types by their one-byte code. */
const HEAP_TYPES: Record<number, string> = {
  0x70: 'func',
  0x6f: 'extern',
  0x6e: 'any',
  0x6d: 'eq',
  0x6c: 'i31',
  0x6b: 'struct',
  0x6a: 'array',
  0x69: 'exn',
  0x68: 'cont',
  0x71: 'none',
  0x72: 'noextern',
  0x73: 'nofunc',
  0x74: 'noexn',
  0x75: 'nocont',
};

/** The text-format shorthand of `(ref null <abstract>)`. */
const NULLABLE_SHORTHAND: Record<string, string> = {
  func: 'funcref',
  extern: 'externref',
  any: 'anyref',
  eq: 'eqref',
  i31: 'i31ref',
  struct: 'structref',
  array: 'arrayref',
  exn: 'exnref',
  cont: 'contref',
  none: 'nullref',
  noextern: 'nullexternref',
  nofunc: 'nullfuncref',
  noexn: 'nullexnref',
  nocont: 'nullcontref',
};

const NUM_TYPES: Record<number, ValType> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128' };

/** A heap type: an abstract type name, or a type index rendered as its decimal text. */
export function readHeapType(r: BinaryReader): string {
  const at = r.pos;
  const v = r.s33();
  if (v >= 0) return String(v);
  const name = HEAP_TYPES[v + 0x80];
  if (name === undefined) r.fail(`unknown heap type ${v}`, at);
  return name;
}

export function readValType(r: BinaryReader): ValType {
  const at = r.pos;
  const b = r.u8();
  const num = NUM_TYPES[b];
  if (num !== undefined) return num;
  if (b === 0x63 || b === 0x64) {
    const heap = readHeapType(r);
    if (b === 0x63) return NULLABLE_SHORTHAND[heap] ?? `(ref null ${heap})`;
    return `(ref ${heap})`;
  }
  const heap = HEAP_TYPES[b];
  if (heap !== undefined) return NULLABLE_SHORTHAND[heap];
  return r.fail(`unknown value type 0x${b.toString(16)}`, at);
}

/** Skips a value type without building its name (hot in local declarations). */
export function skipValType(r: BinaryReader): void {
  const b = r.u8();
  if (b === 0x63 || b === 0x64) {
    readHeapType(r);
    return;
  }
  if (NUM_TYPES[b] === undefined && HEAP_TYPES[b] === undefined) r.fail(`unknown value type 0x${b.toString(16)}`, r.pos - 1);
}

export interface Limits {
  /** The raw flags byte: bit 0 has-max, bit 1 shared, bit 2 64-bit indices. */
  flags: number;
  min: number;
  max: number | null;
  shared: boolean;
  is64: boolean;
}

export function readLimits(r: BinaryReader): Limits {
  const at = r.pos;
  const flags = r.u8();
  if (flags > 0x07) r.fail(`unsupported limits flags 0x${flags.toString(16)}`, at);
  const is64 = (flags & 0x04) !== 0;
  const min = is64 ? r.u64() : r.u32();
  const max = flags & 0x01 ? (is64 ? r.u64() : r.u32()) : null;
  return { flags, min, max, shared: (flags & 0x02) !== 0, is64 };
}

/** One entry of the type index space: a function signature, or null for GC struct/array/continuation types. */
export type TypeEntry = FuncSignature | null;

function readValTypes(r: BinaryReader): ValType[] {
  const n = r.count();
  const out: ValType[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = readValType(r);
  return out;
}

function skipFieldType(r: BinaryReader): void {
  const b = r.peek();
  // i8 and i16 exist only as packed storage types of struct and array fields.
  if (b === 0x78 || b === 0x77) r.pos++;
  else skipValType(r);
  const at = r.pos;
  if (r.u8() > 1) r.fail('invalid field mutability', at);
}

function readCompositeType(r: BinaryReader): TypeEntry {
  const at = r.pos;
  const form = r.u8();
  switch (form) {
    case 0x60: {
      const params = readValTypes(r);
      const results = readValTypes(r);
      return { params, results };
    }
    case 0x5f: {
      const n = r.count(2);
      for (let i = 0; i < n; i++) skipFieldType(r);
      return null;
    }
    case 0x5e:
      skipFieldType(r);
      return null;
    case 0x5d:
      r.u32();
      return null;
    default:
      return r.fail(`unknown type form 0x${form.toString(16)}`, at);
  }
}

function readSubType(r: BinaryReader): TypeEntry {
  const b = r.peek();
  if (b === 0x50 || b === 0x4f) {
    r.pos++;
    const supers = r.count();
    for (let i = 0; i < supers; i++) r.u32();
  }
  return readCompositeType(r);
}

/**
 * Reads a whole type section's contents (the reader's window is the section) and returns the
 * flattened type index space: every subtype of a rec group takes its own index.
 */
export function readTypeSection(r: BinaryReader): TypeEntry[] {
  const groups = r.count();
  const types: TypeEntry[] = [];
  for (let g = 0; g < groups; g++) {
    if (r.peek() === 0x4e) {
      r.pos++;
      const n = r.count();
      for (let i = 0; i < n; i++) types.push(readSubType(r));
    } else {
      types.push(readSubType(r));
    }
  }
  return types;
}
