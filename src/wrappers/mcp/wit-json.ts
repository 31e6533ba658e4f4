/**
 * Converts between the JSON form of WIT values that MCP clients send and receive (described by
 * wit-schema.ts) and the JavaScript form the component runtime takes and gives (jco's).
 *
 * JSON form: records are objects keyed by WIT field names; variants and results `{ tag, val }`;
 * enums strings; flags an array of the names that are set; options the value or null; 64-bit
 * integers numbers, or decimal strings beyond 2^53; float results NaN/±Infinity as strings.
 */
import type { TypeDescription } from '../../component/wit/describe.ts';
import { camelCase } from '../../component/wit/interfaces.ts';

/** A value the schema let through but that is still out of range (64-bit integers given as strings). */
export class ValueOutOfRange extends Error {}

const BIG_RANGES: Record<string, [bigint, bigint]> = { s64: [-(2n ** 63n), 2n ** 63n - 1n], u64: [0n, 2n ** 64n - 1n] };

/** JSON (already validated against the schema) → the runtime's form. */
export function fromJson(t: TypeDescription, v: unknown, path = 'arguments'): unknown {
  switch (t.kind) {
    case 's64':
    case 'u64': {
      const b = BigInt(v as number | string);
      const [lo, hi] = BIG_RANGES[t.kind];
      if (b < lo || b > hi) throw new ValueOutOfRange(`${path} is out of range for ${t.kind}`);
      return b;
    }
    case 'list':
      return (v as unknown[]).map((x, i) => fromJson(t.element, x, `${path}/${i}`));
    case 'tuple':
      return t.types.map((x, i) => fromJson(x, (v as unknown[])[i], `${path}/${i}`));
    case 'record': {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(t.fields.map((f) => [camelCase(f.name), o[f.name] === undefined ? undefined : fromJson(f.type, o[f.name], `${path}/${f.name}`)]));
    }
    case 'variant':
    case 'result': {
      const { tag, val } = v as { tag: string; val?: unknown };
      const payload = t.kind === 'variant' ? t.cases.find((c) => c.name === tag)?.type : tag === 'ok' ? t.ok : t.err;
      return payload ? { tag, val: fromJson(payload, val, `${path}/val`) } : { tag };
    }
    case 'flags': {
      const set = new Set(v as string[]);
      return Object.fromEntries(t.flags.map((f) => [camelCase(f), set.has(f)]));
    }
    case 'option':
      return v === null || v === undefined ? undefined : fromJson(t.type, v, path);
    default:
      return v;
  }
}

/** The runtime's form → JSON. */
export function toJson(t: TypeDescription, v: unknown): unknown {
  switch (t.kind) {
    case 's64':
    case 'u64': {
      const b = typeof v === 'bigint' ? v : BigInt(v as number);
      return b >= BigInt(-Number.MAX_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
    }
    case 'f32':
    case 'f64':
      return Number.isFinite(v) ? v : String(v);
    case 'list':
      return Array.from(v as ArrayLike<unknown>, (x) => toJson(t.element, x));
    case 'tuple':
      return t.types.map((x, i) => toJson(x, (v as unknown[])[i]));
    case 'record': {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(t.fields.map((f) => {
        const x = camelCase(f.name) in o ? o[camelCase(f.name)] : o[f.name];
        return [f.name, toJson(f.type, x)];
      }));
    }
    case 'variant':
    case 'result': {
      const { tag, val } = v as { tag: string; val?: unknown };
      const payload = t.kind === 'variant' ? t.cases.find((c) => c.name === tag)?.type : tag === 'ok' ? t.ok : t.err;
      return payload ? { tag, val: toJson(payload, val) } : { tag };
    }
    case 'flags': {
      const o = v as Record<string, unknown>;
      return t.flags.filter((f) => o[camelCase(f)] ?? o[f]);
    }
    case 'option':
      return v === null || v === undefined ? null : toJson(t.type, v);
    default:
      return v;
  }
}
