/**
 * Instruction decoder: reads one instruction and steps over its immediates without building
 * anything, so callers (const-expression skipping, the instrumenter's code walk) can copy the
 * bytes through untouched. Covers MVP, sign-extension, saturating truncation, bulk memory,
 * reference types, typed function references, tail calls, multi-memory, SIMD and relaxed SIMD,
 * threads, legacy and current exception handling, GC and extended constant expressions.
 * An opcode outside these is an `InvalidModule`. Decoding is not accepting: which of these
 * proposals each runtime runs is decided in `runtime/feature-policy.ts`.
 */
import type { BinaryReader } from './binary-reader.ts';
import { readHeapType, skipValType } from './wasm-types.ts';

export const OP_BLOCK = 0x02;
export const OP_LOOP = 0x03;
export const OP_IF = 0x04;
export const OP_TRY = 0x06;
export const OP_END = 0x0b;
export const OP_CALL = 0x10;
export const OP_CALL_INDIRECT = 0x11;
export const OP_RETURN_CALL = 0x12;
export const OP_CALL_REF = 0x14;
export const OP_DELEGATE = 0x18;
export const OP_TRY_TABLE = 0x1f;
export const OP_MEMORY_SIZE = 0x3f;
export const OP_MEMORY_GROW = 0x40;
export const OP_REF_FUNC = 0xd2;

/** Opcodes that open a structured block closed by `end` (or, for legacy `try`, by `delegate`). */
export function opensBlock(op: number): boolean {
  return op === OP_BLOCK || op === OP_LOOP || op === OP_IF || op === OP_TRY || op === OP_TRY_TABLE;
}

export function skipBlockType(r: BinaryReader): void {
  const at = r.pos;
  const v = r.s33();
  if (v >= 0) return; // a type index
  const code = v + 0x80;
  if (code === 0x40) return;
  if (code === 0x63 || code === 0x64) {
    readHeapType(r);
    return;
  }
  // Re-read the single byte as a value type so unknown codes are rejected in one place.
  r.pos = at;
  skipValType(r);
}

function skipMemarg(r: BinaryReader): void {
  const flags = r.u32();
  // Multi-memory: bit 6 of the alignment field says an explicit memory index follows.
  if (flags & 0x40) r.u32();
  // memory64 offsets are u64.
  r.skipLeb(10);
}

function unknown(r: BinaryReader, at: number, what: string): never {
  return r.fail(`unknown opcode ${what}`, at);
}

/**
 * Reads the instruction at `r.pos`, leaves `r.pos` just past it, and returns its first opcode byte
 * (the prefix byte for 0xFB..0xFE instructions).
 */
export function readOp(r: BinaryReader): number {
  const at = r.pos;
  const op = r.u8();
  if (op >= 0x45 && op <= 0xc4) return op; // numeric instructions have no immediates
  switch (op) {
    case 0x00: // unreachable
    case 0x01: // nop
    case 0x05: // else
    case 0x0a: // throw_ref
    case 0x0b: // end
    case 0x0f: // return
    case 0x19: // catch_all
    case 0x1a: // drop
    case 0x1b: // select
    case 0xd1: // ref.is_null
    case 0xd3: // ref.eq
    case 0xd4: // ref.as_non_null
      return op;
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x06: // try (legacy)
      skipBlockType(r);
      return op;
    case 0x07: // catch tag
    case 0x08: // throw tag
    case 0x09: // rethrow label
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x14: // call_ref type
    case 0x15: // return_call_ref type
    case 0x18: // delegate label
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24: // local.* / global.*
    case 0x25: // table.get
    case 0x26: // table.set
    case 0x3f: // memory.size mem
    case 0x40: // memory.grow mem
    case 0xd2: // ref.func
    case 0xd5: // br_on_null
    case 0xd6: // br_on_non_null
      r.u32();
      return op;
    case 0x0e: {
      // br_table: vector of labels plus the default
      const n = r.count();
      for (let i = 0; i <= n; i++) r.u32();
      return op;
    }
    case 0x11: // call_indirect type table
    case 0x13: // return_call_indirect
      r.u32();
      r.u32();
      return op;
    case 0x1c: {
      // typed select
      const n = r.count();
      for (let i = 0; i < n; i++) skipValType(r);
      return op;
    }
    case 0x1f: {
      // try_table blocktype vec(catch)
      skipBlockType(r);
      const n = r.count(2);
      for (let i = 0; i < n; i++) {
        const kindAt = r.pos;
        const kind = r.u8();
        if (kind === 0x00 || kind === 0x01) {
          r.u32();
          r.u32();
        } else if (kind === 0x02 || kind === 0x03) {
          r.u32();
        } else {
          r.fail(`unknown catch kind ${kind}`, kindAt);
        }
      }
      return op;
    }
    case 0x41:
      r.skipLeb(5);
      return op;
    case 0x42:
      r.skipLeb(10);
      return op;
    case 0x43:
      r.skip(4);
      return op;
    case 0x44:
      r.skip(8);
      return op;
    case 0xd0: // ref.null heaptype
      readHeapType(r);
      return op;
    case 0xfb:
      readGcOp(r, at);
      return op;
    case 0xfc:
      readMiscOp(r, at);
      return op;
    case 0xfd:
      readSimdOp(r, at);
      return op;
    case 0xfe:
      readAtomicOp(r, at);
      return op;
    default:
      if (op >= 0x28 && op <= 0x3e) {
        skipMemarg(r);
        return op;
      }
      return unknown(r, at, `0x${op.toString(16)}`);
  }
}

function readMiscOp(r: BinaryReader, at: number): void {
  const sub = r.u32();
  switch (sub) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7: // trunc_sat
    case 19:
    case 20:
    case 21:
    case 22: // wide arithmetic
      return;
    case 8: // memory.init data mem
    case 10: // memory.copy mem mem
    case 12: // table.init elem table
    case 14: // table.copy table table
      r.u32();
      r.u32();
      return;
    case 9: // data.drop
    case 11: // memory.fill
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      r.u32();
      return;
    default:
      unknown(r, at, `0xfc ${sub}`);
  }
}

function readSimdOp(r: BinaryReader, at: number): void {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) {
    skipMemarg(r); // loads, stores, load_zero
    return;
  }
  if (sub === 12 || sub === 13) {
    r.skip(16); // v128.const, i8x16.shuffle
    return;
  }
  if (sub >= 21 && sub <= 34) {
    r.skip(1); // extract/replace lane
    return;
  }
  if (sub >= 84 && sub <= 91) {
    skipMemarg(r); // load/store lane
    r.skip(1);
    return;
  }
  // Everything else up to the end of relaxed SIMD (0x113) takes no immediates.
  if (sub <= 0x113) return;
  unknown(r, at, `0xfd ${sub}`);
}

function readAtomicOp(r: BinaryReader, at: number): void {
  const sub = r.u32();
  if (sub === 0x03) {
    // atomic.fence carries one reserved zero byte
    if (r.u8() !== 0) r.fail('atomic.fence reserved byte must be 0', r.pos - 1);
    return;
  }
  if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) {
    skipMemarg(r);
    return;
  }
  unknown(r, at, `0xfe ${sub}`);
}

function readGcOp(r: BinaryReader, at: number): void {
  const sub = r.u32();
  switch (sub) {
    case 0: // struct.new
    case 1: // struct.new_default
    case 6: // array.new
    case 7: // array.new_default
    case 11: // array.get
    case 12:
    case 13:
    case 14: // array.set
    case 16: // array.fill
      r.u32();
      return;
    case 2:
    case 3:
    case 4:
    case 5: // struct.get*/set type field
    case 8: // array.new_fixed type n
    case 9: // array.new_data type data
    case 10: // array.new_elem type elem
    case 17: // array.copy type type
    case 18: // array.init_data
    case 19: // array.init_elem
      r.u32();
      r.u32();
      return;
    case 15: // array.len
    case 26: // any.convert_extern
    case 27: // extern.convert_any
    case 28: // ref.i31
    case 29:
    case 30: // i31.get_s/u
      return;
    case 20:
    case 21:
    case 22:
    case 23: // ref.test / ref.cast (nullable variants)
      readHeapType(r);
      return;
    case 24:
    case 25: {
      // br_on_cast(_fail) flags label ht1 ht2
      const flagsAt = r.pos;
      if (r.u8() > 3) r.fail('invalid br_on_cast flags', flagsAt);
      r.u32();
      readHeapType(r);
      readHeapType(r);
      return;
    }
    default:
      unknown(r, at, `0xfb ${sub}`);
  }
}

/**
 * Steps over a constant expression (global initializers, segment offsets and element
 * expressions) through its final `end`. Blocks are not valid there, but tracking depth keeps the
 * skip correct on whatever the engine will later reject.
 */
export function skipConstExpr(r: BinaryReader): void {
  let depth = 0;
  for (;;) {
    const at = r.pos;
    const op = readOp(r);
    if (op === OP_END) {
      if (depth === 0) return;
      depth--;
    } else if (opensBlock(op)) {
      depth++;
    } else if (op === OP_DELEGATE) {
      if (depth === 0) r.fail('delegate outside a try block', at);
      depth--;
    }
  }
}
