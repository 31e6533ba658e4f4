/**
 * Checks call arguments against a function's WIT parameter types before anything reaches jco (whose
 * own lowering would coerce or trap on a bad value), and normalises the forms it accepts beyond
 * jco's into jco's: 64-bit integers given as safe JavaScript numbers become BigInts, and record or
 * flags keys written in WIT's kebab-case become jco's camelCase. Values are otherwise jco's
 * representation (see docs/components.md). A checker is compiled once per function.
 */
import { InvalidArguments } from '../../errors.ts';
import { camelCase } from './interfaces.ts';
import type { FuncType, ValType } from './wit-types.ts';

/** Returns the (possibly normalised) value or throws a Mismatch. */
type Check = (value: unknown, path: string) => unknown;

class Mismatch {
  readonly path: string;
  readonly expected: string;
  readonly got: string;
  constructor(path: string, expected: string, value: unknown) {
    this.path = path;
    this.expected = expected;
    this.got = describeValue(value);
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'string') return v.length > 40 ? `a string` : `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v === 'object' ? 'an object' : typeof v;
}

const INT_RANGES: Record<string, [number, number]> = {
  s8: [-128, 127], u8: [0, 255], s16: [-32768, 32767], u16: [0, 65535], s32: [-2147483648, 2147483647], u32: [0, 4294967295],
};
const BIG_RANGES: Record<string, [bigint, bigint]> = {
  s64: [-(2n ** 63n), 2n ** 63n - 1n], u64: [0n, 2n ** 64n - 1n],
};
const TYPED_ARRAYS: Record<string, Function> = {
  u8: Uint8Array, s8: Int8Array, u16: Uint16Array, s16: Int16Array, u32: Uint32Array, s32: Int32Array,
  u64: BigUint64Array, s64: BigInt64Array, f32: Float32Array, f64: Float64Array,
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Field lookup accepting jco's camelCase key or the WIT name. */
function fieldKeys(name: string): [string, string] {
  return [camelCase(name), name];
}

export function compileCheck(t: ValType): Check {
  switch (t.kind) {
    case 'bool':
      return (v, p) => {
        if (typeof v !== 'boolean') throw new Mismatch(p, 'bool', v);
        return v;
      };
    case 's8': case 'u8': case 's16': case 'u16': case 's32': case 'u32': {
      const [lo, hi] = INT_RANGES[t.kind];
      const kind = t.kind;
      return (v, p) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new Mismatch(p, `${kind} (integer ${lo}..${hi})`, v);
        return v;
      };
    }
    case 's64': case 'u64': {
      const [lo, hi] = BIG_RANGES[t.kind];
      const kind = t.kind;
      return (v, p) => {
        const b = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v;
        if (typeof b !== 'bigint' || b < lo || b > hi) throw new Mismatch(p, `${kind} (bigint, or a safe integer number)`, v);
        return b;
      };
    }
    case 'f32': case 'f64': {
      const kind = t.kind;
      return (v, p) => {
        if (typeof v !== 'number') throw new Mismatch(p, kind, v);
        return v;
      };
    }
    case 'char':
      return (v, p) => {
        if (typeof v !== 'string' || v.length === 0 || v.length > 2 || [...v].length !== 1 || /^[\uD800-\uDFFF]$/.test(v)) {
          throw new Mismatch(p, 'char (one Unicode scalar value)', v);
        }
        return v;
      };
    case 'string':
      return (v, p) => {
        // A lone surrogate has no UTF-8 form: lowering it would silently send U+FFFD instead.
        if (typeof v !== 'string' || !v.isWellFormed()) throw new Mismatch(p, 'string (well-formed Unicode: no lone surrogates)', v);
        return v;
      };
    case 'error-context':
      return (v, p) => {
        throw new Mismatch(p, 'error-context (not supported as an argument)', v);
      };
    case 'list': {
      const el = compileCheck(t.element);
      const typed = TYPED_ARRAYS[t.element.kind];
      const length = t.length;
      const expected = `list<${t.element.kind}>${length === undefined ? '' : ` of length ${length}`}`;
      return (v, p) => {
        if (typed && v instanceof typed) {
          if (length !== undefined && (v as Uint8Array).length !== length) throw new Mismatch(p, expected, v);
          return v;
        }
        if (!Array.isArray(v)) throw new Mismatch(p, typed ? `${expected} (array or ${typed.name})` : `${expected} (array)`, v);
        if (length !== undefined && v.length !== length) throw new Mismatch(p, expected, v);
        let out: unknown[] | undefined;
        for (let i = 0; i < v.length; i++) {
          const x = el(v[i], `${p}[${i}]`);
          if (x !== v[i]) (out ??= v.slice())[i] = x;
        }
        return out ?? v;
      };
    }
    case 'tuple': {
      const checks = t.types.map(compileCheck);
      return (v, p) => {
        if (!Array.isArray(v) || v.length !== checks.length) throw new Mismatch(p, `tuple of ${checks.length} (array)`, v);
        let out: unknown[] | undefined;
        for (let i = 0; i < checks.length; i++) {
          const x = checks[i](v[i], `${p}[${i}]`);
          if (x !== v[i]) (out ??= v.slice())[i] = x;
        }
        return out ?? v;
      };
    }
    case 'record': {
      const fields = t.fields.map((f) => ({ keys: fieldKeys(f.name), check: compileCheck(f.type), name: f.name }));
      const known = new Set(fields.flatMap((f) => f.keys));
      return (v, p) => {
        if (!isPlainObject(v)) throw new Mismatch(p, `record { ${t.fields.map((f) => camelCase(f.name)).join(', ')} }`, v);
        for (const key of Object.keys(v)) if (!known.has(key)) throw new Mismatch(`${p}.${key}`, 'no such field', v[key]);
        let out: Record<string, unknown> | undefined;
        for (const f of fields) {
          const [camel, wit] = f.keys;
          const given = camel in v ? v[camel] : v[wit];
          const x = f.check(given, `${p}.${camel}`);
          if (x !== given || !(camel in v)) (out ??= { ...v })[camel] = x;
        }
        if (out) for (const f of fields) if (f.keys[1] !== f.keys[0]) delete out[f.keys[1]];
        return out ?? v;
      };
    }
    case 'variant': {
      const cases = new Map(t.cases.map((c) => [c.name, c.type ? compileCheck(c.type) : undefined]));
      const names = t.cases.map((c) => c.name).join(' | ');
      return (v, p) => {
        if (!isPlainObject(v) || typeof v.tag !== 'string' || !cases.has(v.tag)) throw new Mismatch(p, `variant { tag: ${names} }`, v);
        const check = cases.get(v.tag);
        if (!check) return v;
        const val = check(v.val, `${p}.val`);
        return val === v.val ? v : { tag: v.tag, val };
      };
    }
    case 'enum': {
      const names = new Set(t.names);
      return (v, p) => {
        if (typeof v !== 'string' || !names.has(v)) throw new Mismatch(p, `enum (${t.names.join(' | ')})`, v);
        return v;
      };
    }
    case 'flags': {
      const flags = t.names.map(fieldKeys);
      const known = new Set(flags.flat());
      return (v, p) => {
        if (!isPlainObject(v)) throw new Mismatch(p, `flags { ${flags.map((f) => f[0]).join(', ')} } (object of booleans)`, v);
        let rename = false;
        for (const [key, value] of Object.entries(v)) {
          if (!known.has(key)) throw new Mismatch(`${p}.${key}`, 'no such flag', value);
          if (typeof value !== 'boolean' && value !== undefined) throw new Mismatch(`${p}.${key}`, 'boolean', value);
        }
        for (const [camel, wit] of flags) if (camel !== wit && wit in v) rename = true;
        if (!rename) return v;
        const out: Record<string, boolean> = {};
        for (const [camel, wit] of flags) out[camel] = Boolean(v[camel] ?? v[wit]);
        return out;
      };
    }
    case 'option': {
      const inner = compileCheck(t.type);
      return (v, p) => (v === undefined || v === null ? undefined : inner(v, p));
    }
    case 'result': {
      const ok = t.ok ? compileCheck(t.ok) : undefined;
      const err = t.err ? compileCheck(t.err) : undefined;
      return (v, p) => {
        if (!isPlainObject(v) || (v.tag !== 'ok' && v.tag !== 'err')) throw new Mismatch(p, "result ({ tag: 'ok' | 'err', val })", v);
        const check = v.tag === 'ok' ? ok : err;
        if (!check) return v;
        const val = check(v.val, `${p}.val`);
        return val === v.val ? v : { tag: v.tag, val };
      };
    }
    case 'own':
    case 'borrow':
      return (v, p) => {
        if (typeof v !== 'object' || v === null) throw new Mismatch(p, `${t.kind} resource handle (an object the component gave out)`, v);
        return v;
      };
    default:
      return (v, p) => {
        throw new Mismatch(p, `${t.kind} (not supported)`, v);
      };
  }
}

/** A checker for a whole argument list. */
export function compileArgsCheck(f: FuncType, what: string, skip = 0): (args: readonly unknown[]) => unknown[] {
  const params = f.params.slice(skip);
  const checks = params.map((p) => compileCheck(p.type));
  return (args) => {
    if (!Array.isArray(args)) throw new InvalidArguments(`${what}: arguments must be an array`);
    if (args.length !== checks.length) {
      throw new InvalidArguments(`${what}: expected ${checks.length} argument${checks.length === 1 ? '' : 's'} (${params.map((p) => p.name).join(', ')}), got ${args.length}`);
    }
    let out: unknown[] | undefined;
    for (let i = 0; i < checks.length; i++) {
      try {
        const x = checks[i](args[i], params[i].name);
        if (x !== args[i]) (out ??= args.slice())[i] = x;
      } catch (err) {
        if (!(err instanceof Mismatch)) throw err;
        throw new InvalidArguments(`${what}: argument ${i} '${err.path}': expected ${err.expected}, got ${err.got}`, { parameter: i + skip, expected: err.expected });
      }
    }
    return out ?? (args as unknown[]);
  };
}
