/**
 * Lifting: core wasm results and linear memory into JavaScript values in jco's representation
 * (so the direct path and jco's bindings return identical values), compiled once per type. Values
 * the guest controls are validated as the Canonical ABI requires, trapping otherwise.
 */
import { Trap } from '../../errors.ts';
import { camelCase } from '../wit/interfaces.ts';
import type { ValType } from '../wit/wit-types.ts';
import type { GuestMemory } from './guest-memory.ts';
import { alignment, alignTo, cases, discriminantSize, flatten, payloadOffset, size, type Flat } from './layout.ts';

export interface Cursor {
  i: number;
}
export type LiftFlat = (vals: readonly unknown[], c: Cursor, m: GuestMemory) => unknown;
export type Load = (ptr: number, m: GuestMemory) => unknown;

/**
 * Strict, as the Canonical ABI requires: invalid UTF-8 traps instead of becoming U+FFFD, and a
 * leading U+FEFF is a character of the string, not a byte order mark to drop.
 */
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);

/** Reads a joined variant slot back as the case's own flat type (inverse of `coerce`). */
function uncoerce(v: unknown, from: Flat, to: Flat): unknown {
  if (from === to) return v;
  if (to === 'i32') return Number(BigInt.asIntN(32, v as bigint));
  if (to === 'f32') {
    i32[0] = from === 'i32' ? (v as number) : Number(BigInt.asIntN(32, v as bigint));
    return f32[0];
  }
  i64[0] = v as bigint;
  return f64[0];
}

function char(cp: number): string {
  if (cp >= 0x110000 || (cp >= 0xd800 && cp <= 0xdfff)) throw new Trap('invalid-conversion', `canonical ABI: ${cp} is not a Unicode scalar value`);
  return String.fromCodePoint(cp);
}

function loadString(ptr: number, len: number, m: GuestMemory): string {
  m.check(ptr, len, 1);
  try {
    return decoder.decode(m.bytes().subarray(ptr, ptr + len));
  } catch {
    throw new Trap('invalid-conversion', `canonical ABI: the string at [${ptr}, ${ptr}+${len}) is not valid UTF-8`);
  }
}

const TYPED: Record<string, { new (buffer: ArrayBuffer): ArrayBufferView }> = {
  u8: Uint8Array, s8: Int8Array, u16: Uint16Array, s16: Int16Array, u32: Uint32Array, s32: Int32Array,
  u64: BigUint64Array, s64: BigInt64Array, f32: Float32Array, f64: Float64Array,
};

function loadList(element: ValType): (ptr: number, len: number, m: GuestMemory) => unknown {
  const elSize = size(element);
  const elAlign = alignment(element);
  const typed = TYPED[element.kind];
  const load = compileLoad(element);
  return (ptr, len, m) => {
    m.check(ptr, len * elSize, elAlign);
    if (typed) return new typed(m.bytes().slice(ptr, ptr + len * elSize).buffer);
    const out = new Array(len);
    for (let i = 0; i < len; i++) out[i] = load(ptr + i * elSize, m);
    return out;
  };
}

function caseValue(t: ValType): (index: number, payload: unknown) => unknown {
  const n = cases(t).length;
  const check = (index: number): void => {
    if (index >= n) throw new Trap('invalid-conversion', `canonical ABI: case ${index} of a ${t.kind} with ${n} cases`);
  };
  switch (t.kind) {
    case 'variant': {
      const names = t.cases.map((c) => c.name);
      const hasPayload = t.cases.map((c) => c.type !== undefined);
      return (index, payload) => {
        check(index);
        return hasPayload[index] ? { tag: names[index], val: payload } : { tag: names[index] };
      };
    }
    case 'option':
      return (index, payload) => {
        check(index);
        return index === 0 ? undefined : payload;
      };
    case 'result':
      return (index, payload) => {
        check(index);
        return { tag: index === 0 ? 'ok' : 'err', val: payload };
      };
    case 'enum':
      return (index) => {
        check(index);
        return t.names[index];
      };
    default:
      throw new Error(`not a variant type: ${t.kind}`);
  }
}

/** Bits set past the last flag trap, as in jco's bindings and the Canonical ABI's `load_flags`. */
function flagsValue(names: readonly string[]): (bits: number) => Record<string, boolean> {
  const keys = names.map(camelCase);
  const unused = keys.length >= 32 ? 0 : ~((1 << keys.length) - 1);
  return (bits) => {
    if ((bits & unused) !== 0) throw new Trap('invalid-conversion', `canonical ABI: flags with bits set past the last of ${keys.length} flags`);
    const o: Record<string, boolean> = {};
    for (let i = 0; i < keys.length; i++) o[keys[i]] = (bits & (1 << i)) !== 0;
    return o;
  };
}

export function compileLiftFlat(t: ValType): LiftFlat {
  switch (t.kind) {
    case 'bool': return (v, c) => v[c.i++] !== 0;
    case 's8': return (v, c) => ((v[c.i++] as number) << 24) >> 24;
    case 'u8': return (v, c) => (v[c.i++] as number) & 0xff;
    case 's16': return (v, c) => ((v[c.i++] as number) << 16) >> 16;
    case 'u16': return (v, c) => (v[c.i++] as number) & 0xffff;
    case 's32': return (v, c) => (v[c.i++] as number) | 0;
    case 'u32': return (v, c) => (v[c.i++] as number) >>> 0;
    case 's64': return (v, c) => BigInt.asIntN(64, v[c.i++] as bigint);
    case 'u64': return (v, c) => BigInt.asUintN(64, v[c.i++] as bigint);
    case 'f32': case 'f64': return (v, c) => v[c.i++];
    case 'char': return (v, c) => char((v[c.i++] as number) >>> 0);
    case 'string':
      return (v, c, m) => {
        const ptr = (v[c.i++] as number) >>> 0;
        return loadString(ptr, (v[c.i++] as number) >>> 0, m);
      };
    case 'list': {
      if (t.length !== undefined) {
        const el = compileLiftFlat(t.element);
        return (v, c, m) => Array.from({ length: t.length! }, () => el(v, c, m));
      }
      const load = loadList(t.element);
      return (v, c, m) => {
        const ptr = (v[c.i++] as number) >>> 0;
        return load(ptr, (v[c.i++] as number) >>> 0, m);
      };
    }
    case 'record': {
      const fields = t.fields.map((f) => ({ key: camelCase(f.name), lift: compileLiftFlat(f.type) }));
      return (v, c, m) => {
        const o: Record<string, unknown> = {};
        for (const f of fields) o[f.key] = f.lift(v, c, m);
        return o;
      };
    }
    case 'tuple': {
      const parts = t.types.map(compileLiftFlat);
      return (v, c, m) => parts.map((p) => p(v, c, m));
    }
    case 'flags': {
      const value = flagsValue(t.names);
      return (v, c) => value(v[c.i++] as number);
    }
    case 'enum': {
      const value = caseValue(t);
      return (v, c) => value((v[c.i++] as number) >>> 0, undefined);
    }
    case 'variant': case 'option': case 'result': {
      const value = caseValue(t);
      const joined = flatten(t).slice(1);
      const payloads = cases(t).map((x) => (x ? { lift: compileLiftFlat(x), flat: flatten(x) } : undefined));
      return (v, c, m) => {
        const index = (v[c.i++] as number) >>> 0;
        const start = c.i;
        c.i += joined.length;
        const p = index < payloads.length ? payloads[index] : undefined;
        if (!p) return value(index, undefined);
        const own = p.flat.map((f, k) => uncoerce(v[start + k], joined[k], f));
        return value(index, p.lift(own, { i: 0 }, m));
      };
    }
    default:
      throw new Error(`cannot lift ${t.kind}`);
  }
}

export function compileLoad(t: ValType): Load {
  switch (t.kind) {
    case 'bool': return (p, m) => m.view().getUint8(p) !== 0;
    case 's8': return (p, m) => m.view().getInt8(p);
    case 'u8': return (p, m) => m.view().getUint8(p);
    case 's16': return (p, m) => m.view().getInt16(p, true);
    case 'u16': return (p, m) => m.view().getUint16(p, true);
    case 's32': return (p, m) => m.view().getInt32(p, true);
    case 'u32': return (p, m) => m.view().getUint32(p, true);
    case 's64': return (p, m) => m.view().getBigInt64(p, true);
    case 'u64': return (p, m) => m.view().getBigUint64(p, true);
    case 'f32': return (p, m) => m.view().getFloat32(p, true);
    case 'f64': return (p, m) => m.view().getFloat64(p, true);
    case 'char': return (p, m) => char(m.view().getUint32(p, true));
    case 'string':
      return (p, m) => {
        const dv = m.view();
        return loadString(dv.getUint32(p, true), dv.getUint32(p + 4, true), m);
      };
    case 'list': {
      if (t.length !== undefined) {
        const el = compileLoad(t.element);
        const elSize = size(t.element);
        return (p, m) => Array.from({ length: t.length! }, (_, i) => el(p + i * elSize, m));
      }
      const load = loadList(t.element);
      return (p, m) => {
        const dv = m.view();
        return load(dv.getUint32(p, true), dv.getUint32(p + 4, true), m);
      };
    }
    case 'record': case 'tuple': {
      const types = t.kind === 'record' ? t.fields.map((f) => f.type) : t.types;
      let offset = 0;
      const parts = types.map((x, i) => {
        offset = alignTo(offset, alignment(x));
        const part = { key: t.kind === 'record' ? camelCase(t.fields[i].name) : i, offset, load: compileLoad(x) };
        offset += size(x);
        return part;
      });
      if (t.kind === 'tuple') return (p, m) => parts.map((f) => f.load(p + f.offset, m));
      return (p, m) => {
        const o: Record<string, unknown> = {};
        for (const f of parts) o[f.key] = f.load(p + f.offset, m);
        return o;
      };
    }
    case 'flags': {
      const value = flagsValue(t.names);
      const width = size(t);
      return (p, m) => {
        const dv = m.view();
        return value(width === 1 ? dv.getUint8(p) : width === 2 ? dv.getUint16(p, true) : dv.getUint32(p, true));
      };
    }
    case 'enum': case 'variant': case 'option': case 'result': {
      const value = caseValue(t);
      const discSize = discriminantSize(cases(t).length);
      const offset = t.kind === 'enum' ? 0 : payloadOffset(t);
      const payloads = t.kind === 'enum' ? [] : cases(t).map((x) => (x ? compileLoad(x) : undefined));
      return (p, m) => {
        const dv = m.view();
        const index = discSize === 1 ? dv.getUint8(p) : discSize === 2 ? dv.getUint16(p, true) : dv.getUint32(p, true);
        const load = index < payloads.length ? payloads[index] : undefined;
        return value(index, load ? load(p + offset, m) : undefined);
      };
    }
    default:
      throw new Error(`cannot load ${t.kind}`);
  }
}
