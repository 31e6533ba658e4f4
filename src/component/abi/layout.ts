/**
 * Canonical ABI layout: how each WIT value type is flattened into core values and laid out in
 * linear memory (sizes, alignments, discriminants, joined variant slots), as the Component Model's
 * CanonicalABI.md defines them. Only the types the direct call path handles are covered; `direct`
 * says which those are.
 */
import type { ValType } from '../wit/wit-types.ts';

export type Flat = 'i32' | 'i64' | 'f32' | 'f64';

export const MAX_FLAT_PARAMS = 16;
export const MAX_FLAT_RESULTS = 1;

export function alignTo(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

export function discriminantSize(cases: number): 1 | 2 | 4 {
  return cases <= 256 ? 1 : cases <= 65536 ? 2 : 4;
}

/** Case payloads of the variant-like types (option, result and enum included). */
export function cases(t: ValType): (ValType | undefined)[] {
  switch (t.kind) {
    case 'variant': return t.cases.map((c) => c.type);
    case 'option': return [undefined, t.type];
    case 'result': return [t.ok, t.err];
    case 'enum': return t.names.map(() => undefined);
    default: throw new Error(`not a variant type: ${t.kind}`);
  }
}

function maxCaseAlignment(cs: (ValType | undefined)[]): number {
  let a = 1;
  for (const c of cs) if (c) a = Math.max(a, alignment(c));
  return a;
}

export function alignment(t: ValType): number {
  switch (t.kind) {
    case 'bool': case 's8': case 'u8': return 1;
    case 's16': case 'u16': return 2;
    case 's32': case 'u32': case 'f32': case 'char': return 4;
    case 's64': case 'u64': case 'f64': return 8;
    case 'string': return 4;
    case 'list': return t.length === undefined ? 4 : alignment(t.element);
    case 'record': return t.fields.reduce((a, f) => Math.max(a, alignment(f.type)), 1);
    case 'tuple': return t.types.reduce((a, x) => Math.max(a, alignment(x)), 1);
    case 'flags': return t.names.length <= 8 ? 1 : t.names.length <= 16 ? 2 : 4;
    case 'variant': case 'option': case 'result': case 'enum': {
      const cs = cases(t);
      return Math.max(discriminantSize(cs.length), maxCaseAlignment(cs));
    }
    default: return 4;
  }
}

export function size(t: ValType): number {
  switch (t.kind) {
    case 'bool': case 's8': case 'u8': return 1;
    case 's16': case 'u16': return 2;
    case 's32': case 'u32': case 'f32': case 'char': return 4;
    case 's64': case 'u64': case 'f64': return 8;
    case 'string': return 8;
    case 'list': return t.length === undefined ? 8 : t.length * size(t.element);
    case 'record': case 'tuple': {
      const types = t.kind === 'record' ? t.fields.map((f) => f.type) : t.types;
      let s = 0;
      for (const x of types) s = alignTo(s, alignment(x)) + size(x);
      return alignTo(s, alignment(t));
    }
    case 'flags': return t.names.length <= 8 ? 1 : t.names.length <= 16 ? 2 : 4 * Math.ceil(t.names.length / 32);
    case 'variant': case 'option': case 'result': case 'enum': {
      const cs = cases(t);
      let s = alignTo(discriminantSize(cs.length), maxCaseAlignment(cs));
      let payload = 0;
      for (const c of cs) if (c) payload = Math.max(payload, size(c));
      s += payload;
      return alignTo(s, alignment(t));
    }
    default: return 4;
  }
}

/** Offset of a variant's payload from its start. */
export function payloadOffset(t: ValType): number {
  const cs = cases(t);
  return alignTo(discriminantSize(cs.length), maxCaseAlignment(cs));
}

export function join(a: Flat, b: Flat): Flat {
  if (a === b) return a;
  if ((a === 'i32' && b === 'f32') || (a === 'f32' && b === 'i32')) return 'i32';
  return 'i64';
}

export function flatten(t: ValType): Flat[] {
  switch (t.kind) {
    case 'bool': case 's8': case 'u8': case 's16': case 'u16': case 's32': case 'u32': case 'char': case 'enum': return ['i32'];
    case 's64': case 'u64': return ['i64'];
    case 'f32': return ['f32'];
    case 'f64': return ['f64'];
    case 'string': return ['i32', 'i32'];
    case 'list': {
      if (t.length === undefined) return ['i32', 'i32'];
      const one = flatten(t.element);
      return Array.from({ length: t.length }, () => one).flat();
    }
    case 'record': return t.fields.flatMap((f) => flatten(f.type));
    case 'tuple': return t.types.flatMap(flatten);
    case 'flags': return Array.from({ length: Math.ceil(t.names.length / 32) }, () => 'i32' as const);
    case 'variant': case 'option': case 'result': {
      const joined: Flat[] = [];
      for (const c of cases(t)) {
        if (!c) continue;
        flatten(c).forEach((f, i) => {
          joined[i] = i < joined.length ? join(joined[i], f) : f;
        });
      }
      return ['i32', ...joined];
    }
    default: throw new Error(`cannot flatten ${t.kind}`);
  }
}

/**
 * Whether the direct path handles the type: no resources (their handle tables are jco's), no
 * component-model async, no nested options (whose JavaScript form is jco's special case), and no
 * flags beyond 32.
 */
export function direct(t: ValType, insideOption = false): boolean {
  switch (t.kind) {
    case 'own': case 'borrow': case 'future': case 'stream': case 'error-context': return false;
    case 'list': return direct(t.element);
    case 'record': return t.fields.every((f) => direct(f.type));
    case 'tuple': return t.types.every((x) => direct(x));
    case 'flags': return t.names.length <= 32;
    case 'variant': return t.cases.every((c) => !c.type || direct(c.type));
    case 'option': return !insideOption && t.type.kind !== 'option' && direct(t.type, true);
    case 'result': return (!t.ok || direct(t.ok)) && (!t.err || direct(t.err));
    default: return true;
  }
}
