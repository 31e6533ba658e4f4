/**
 * Lowering: JavaScript values (in jco's representation, already checked against the WIT types) into
 * core wasm arguments and linear memory, compiled once per type into closures.
 */
import { camelCase } from '../wit/interfaces.ts';
import type { ValType } from '../wit/wit-types.ts';
import type { GuestMemory } from './guest-memory.ts';
import { alignment, alignTo, cases, discriminantSize, flatten, payloadOffset, size, type Flat } from './layout.ts';

export type Lower = (v: unknown, out: unknown[], m: GuestMemory) => void;
export type Store = (v: unknown, ptr: number, m: GuestMemory) => void;

const encoder = new TextEncoder();
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);

/** Moves a value from its own flat type into a joined variant slot (CanonicalABI.md `coerce`). */
function coerce(v: unknown, from: Flat, to: Flat): unknown {
  if (from === to) return v;
  if (from === 'i32') return BigInt((v as number) >>> 0);
  if (from === 'f32') {
    f32[0] = v as number;
    return to === 'i32' ? i32[0] : BigInt(i32[0] >>> 0);
  }
  f64[0] = v as number;
  return i64[0];
}

const ZERO: Record<Flat, unknown> = { i32: 0, i64: 0n, f32: 0, f64: 0 };

function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

function storeString(s: string, m: GuestMemory): [number, number] {
  const len = utf8Length(s);
  const ptr = m.alloc(1, len);
  if (len > 0) encoder.encodeInto(s, m.bytes().subarray(ptr, ptr + len));
  return [ptr, len];
}

const NUMERIC = new Set(['u8', 's8', 'u16', 's16', 'u32', 's32', 'u64', 's64', 'f32', 'f64']);

function storeList(element: ValType): (v: unknown, m: GuestMemory) => [number, number] {
  const elSize = size(element);
  const elAlign = alignment(element);
  const numeric = NUMERIC.has(element.kind);
  const store = compileStore(element);
  return (v, m) => {
    if (numeric && ArrayBuffer.isView(v)) {
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      const ptr = m.alloc(elAlign, bytes.length);
      m.bytes().set(bytes, ptr);
      return [ptr, bytes.length / elSize];
    }
    const list = v as unknown[];
    const ptr = m.alloc(elAlign, list.length * elSize);
    for (let i = 0; i < list.length; i++) store(list[i], ptr + i * elSize, m);
    return [ptr, list.length];
  };
}

/** Which case a variant-like value is, and its payload. */
function caseOf(t: ValType): (v: unknown) => [number, unknown] {
  switch (t.kind) {
    case 'variant': {
      const index = new Map(t.cases.map((c, i) => [c.name, i]));
      return (v) => [index.get((v as { tag: string }).tag)!, (v as { val?: unknown }).val];
    }
    case 'option':
      return (v) => (v === undefined || v === null ? [0, undefined] : [1, v]);
    case 'result':
      return (v) => [(v as { tag: string }).tag === 'ok' ? 0 : 1, (v as { val?: unknown }).val];
    case 'enum': {
      const index = new Map(t.names.map((n, i) => [n, i]));
      return (v) => [index.get(v as string)!, undefined];
    }
    default:
      throw new Error(`not a variant type: ${t.kind}`);
  }
}

function flagBits(names: readonly string[]): (v: unknown) => number {
  const keys = names.map(camelCase);
  return (v) => {
    const o = v as Record<string, unknown>;
    let bits = 0;
    for (let i = 0; i < keys.length; i++) if (o[keys[i]]) bits |= 1 << i;
    return bits;
  };
}

export function compileLower(t: ValType): Lower {
  switch (t.kind) {
    case 'bool':
      return (v, out) => void out.push(v ? 1 : 0);
    case 's8': case 'u8': case 's16': case 'u16': case 's32': case 'u32': case 'f32': case 'f64':
      return (v, out) => void out.push(v);
    case 's64': case 'u64':
      return (v, out) => void out.push(BigInt.asIntN(64, v as bigint));
    case 'char':
      return (v, out) => void out.push((v as string).codePointAt(0));
    case 'string':
      return (v, out, m) => void out.push(...storeString(v as string, m));
    case 'list': {
      if (t.length !== undefined) {
        const el = compileLower(t.element);
        return (v, out, m) => {
          for (const x of v as unknown[]) el(x, out, m);
        };
      }
      const store = storeList(t.element);
      return (v, out, m) => void out.push(...store(v, m));
    }
    case 'record': {
      const fields = t.fields.map((f) => ({ key: camelCase(f.name), lower: compileLower(f.type) }));
      return (v, out, m) => {
        const o = v as Record<string, unknown>;
        for (const f of fields) f.lower(o[f.key], out, m);
      };
    }
    case 'tuple': {
      const parts = t.types.map(compileLower);
      return (v, out, m) => {
        const a = v as unknown[];
        for (let i = 0; i < parts.length; i++) parts[i](a[i], out, m);
      };
    }
    case 'flags': {
      const bits = flagBits(t.names);
      return (v, out) => void out.push(bits(v));
    }
    case 'enum': {
      const which = caseOf(t);
      return (v, out) => void out.push(which(v)[0]);
    }
    case 'variant': case 'option': case 'result': {
      const which = caseOf(t);
      const joined = flatten(t).slice(1);
      const payloads = cases(t).map((c) => (c ? { lower: compileLower(c), flat: flatten(c) } : undefined));
      return (v, out, m) => {
        const [index, val] = which(v);
        out.push(index);
        const p = payloads[index];
        let n = 0;
        if (p) {
          const tmp: unknown[] = [];
          p.lower(val, tmp, m);
          for (; n < tmp.length; n++) out.push(coerce(tmp[n], p.flat[n], joined[n]));
        }
        for (; n < joined.length; n++) out.push(ZERO[joined[n]]);
      };
    }
    default:
      throw new Error(`cannot lower ${t.kind}`);
  }
}

export function compileStore(t: ValType): Store {
  switch (t.kind) {
    case 'bool': return (v, p, m) => m.view().setUint8(p, v ? 1 : 0);
    case 's8': return (v, p, m) => m.view().setInt8(p, v as number);
    case 'u8': return (v, p, m) => m.view().setUint8(p, v as number);
    case 's16': return (v, p, m) => m.view().setInt16(p, v as number, true);
    case 'u16': return (v, p, m) => m.view().setUint16(p, v as number, true);
    case 's32': return (v, p, m) => m.view().setInt32(p, v as number, true);
    case 'u32': return (v, p, m) => m.view().setUint32(p, v as number, true);
    case 's64': return (v, p, m) => m.view().setBigInt64(p, v as bigint, true);
    case 'u64': return (v, p, m) => m.view().setBigUint64(p, v as bigint, true);
    case 'f32': return (v, p, m) => m.view().setFloat32(p, v as number, true);
    case 'f64': return (v, p, m) => m.view().setFloat64(p, v as number, true);
    case 'char': return (v, p, m) => m.view().setUint32(p, (v as string).codePointAt(0)!, true);
    case 'string':
      return (v, p, m) => {
        const [ptr, len] = storeString(v as string, m);
        const dv = m.view();
        dv.setUint32(p, ptr, true);
        dv.setUint32(p + 4, len, true);
      };
    case 'list': {
      if (t.length !== undefined) {
        const el = compileStore(t.element);
        const elSize = size(t.element);
        return (v, p, m) => (v as unknown[]).forEach((x, i) => el(x, p + i * elSize, m));
      }
      const store = storeList(t.element);
      return (v, p, m) => {
        const [ptr, len] = store(v, m);
        const dv = m.view();
        dv.setUint32(p, ptr, true);
        dv.setUint32(p + 4, len, true);
      };
    }
    case 'record': case 'tuple': {
      const types = t.kind === 'record' ? t.fields.map((f) => f.type) : t.types;
      const keys = t.kind === 'record' ? t.fields.map((f) => camelCase(f.name)) : types.map((_, i) => i);
      let offset = 0;
      const parts = types.map((x, i) => {
        offset = alignTo(offset, alignment(x));
        const part = { key: keys[i], offset, store: compileStore(x) };
        offset += size(x);
        return part;
      });
      return (v, p, m) => {
        const o = v as Record<string | number, unknown>;
        for (const f of parts) f.store(o[f.key], p + f.offset, m);
      };
    }
    case 'flags': {
      const bits = flagBits(t.names);
      const width = size(t);
      return (v, p, m) => {
        const b = bits(v);
        const dv = m.view();
        if (width === 1) dv.setUint8(p, b);
        else if (width === 2) dv.setUint16(p, b, true);
        else dv.setUint32(p, b >>> 0, true);
      };
    }
    case 'enum': case 'variant': case 'option': case 'result': {
      const which = caseOf(t);
      const discSize = discriminantSize(cases(t).length);
      const offset = t.kind === 'enum' ? 0 : payloadOffset(t);
      const payloads = t.kind === 'enum' ? [] : cases(t).map((c) => (c ? compileStore(c) : undefined));
      return (v, p, m) => {
        const [index, val] = which(v);
        const dv = m.view();
        if (discSize === 1) dv.setUint8(p, index);
        else if (discSize === 2) dv.setUint16(p, index, true);
        else dv.setUint32(p, index, true);
        payloads[index]?.(val, p + offset, m);
      };
    }
    default:
      throw new Error(`cannot store ${t.kind}`);
  }
}
