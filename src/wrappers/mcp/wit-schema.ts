import type { FunctionDescription, TypeDescription } from '../../component/wit/describe.ts';

export type JsonSchema = Record<string, unknown>;

const INT_RANGES: Record<string, [number, number]> = {
  s8: [-128, 127], u8: [0, 255], s16: [-32768, 32767], u16: [0, 65535], s32: [-2147483648, 2147483647], u32: [0, 4294967295],
};
const SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Why a WIT type has no JSON form, or undefined when it has one. Resources are handles into one
 * instance's state, and every call runs in a fresh instance, so they cannot cross a tool call.
 */
export function unsupported(t: TypeDescription): string | undefined {
  switch (t.kind) {
    case 'own':
    case 'borrow':
      return `resource '${t.resource}'`;
    case 'future':
    case 'stream':
    case 'error-context':
      return t.kind;
    case 'list':
      return unsupported(t.element);
    case 'option':
      // jco writes option<option<T>> differently from option<T>; JSON null cannot tell the two nones apart.
      return t.type.kind === 'option' ? 'nested option' : unsupported(t.type);
    case 'tuple':
      return firstOf(t.types.map(unsupported));
    case 'record':
      return firstOf(t.fields.map((f) => unsupported(f.type)));
    case 'variant':
      return firstOf(t.cases.map((c) => (c.type ? unsupported(c.type) : undefined)));
    case 'result':
      return (t.ok && unsupported(t.ok)) || (t.err && unsupported(t.err)) || undefined;
    default:
      return undefined;
  }
}

function firstOf(reasons: (string | undefined)[]): string | undefined {
  return reasons.find((r) => r !== undefined);
}

/**
 * The JSON Schema of a WIT type's JSON form (see wit-json.ts). Written so that draft-07 validators
 * (which ignore `prefixItems`) accept everything 2020-12 ones do: tuples bound their length with
 * minItems/maxItems rather than `items: false`.
 */
export function schemaFor(t: TypeDescription, mode: 'input' | 'output'): JsonSchema {
  const s = (x: TypeDescription) => schemaFor(x, mode);
  switch (t.kind) {
    case 'bool':
      return { type: 'boolean' };
    case 's8': case 'u8': case 's16': case 'u16': case 's32': case 'u32': {
      const [minimum, maximum] = INT_RANGES[t.kind];
      return { type: 'integer', minimum, maximum };
    }
    case 's64':
    case 'u64':
      // JSON numbers lose precision past 2^53, so larger values travel as decimal strings.
      return {
        anyOf: [
          { type: 'integer', minimum: t.kind === 'u64' ? 0 : -SAFE, maximum: SAFE },
          { type: 'string', pattern: t.kind === 'u64' ? '^[0-9]{1,20}$' : '^-?[0-9]{1,19}$' },
        ],
        description: `${t.kind}: a number, or a decimal string for values beyond 2^53`,
      };
    case 'f32':
    case 'f64':
      // JSON has no NaN or infinities; results carry them as strings.
      return mode === 'input' ? { type: 'number' } : { anyOf: [{ type: 'number' }, { type: 'string', enum: ['NaN', 'Infinity', '-Infinity'] }] };
    case 'char':
      return { type: 'string', minLength: 1, maxLength: 1, description: 'one Unicode character' };
    case 'string':
      return { type: 'string' };
    case 'list': {
      const out: JsonSchema = { type: 'array', items: s(t.element) };
      if (t.length !== undefined) Object.assign(out, { minItems: t.length, maxItems: t.length });
      return out;
    }
    case 'tuple':
      return { type: 'array', prefixItems: t.types.map(s), minItems: t.types.length, maxItems: t.types.length };
    case 'record':
      return named(t.name, {
        type: 'object',
        properties: Object.fromEntries(t.fields.map((f) => [f.name, s(f.type)])),
        required: t.fields.filter((f) => f.type.kind !== 'option').map((f) => f.name),
        additionalProperties: false,
      });
    case 'variant':
      return named(t.name, { oneOf: t.cases.map((c) => tagged(c.name, c.type && s(c.type))) });
    case 'enum':
      return named(t.name, { type: 'string', enum: [...t.cases] });
    case 'flags':
      return named(t.name, { type: 'array', items: { type: 'string', enum: [...t.flags] }, uniqueItems: true, description: 'the flags that are set' });
    case 'option':
      return { anyOf: [s(t.type), { type: 'null' }] };
    case 'result':
      return { oneOf: [tagged('ok', t.ok && s(t.ok)), tagged('err', t.err && s(t.err))] };
    default:
      throw new Error(`no JSON form for WIT type '${t.kind}'`);
  }
}

function named(name: string | undefined, schema: JsonSchema): JsonSchema {
  return name ? { title: name, ...schema } : schema;
}

/** `{ tag, val }`, the form variants and results take (the same as jco's). */
function tagged(tag: string, val: JsonSchema | undefined): JsonSchema {
  return val
    ? { type: 'object', properties: { tag: { const: tag }, val }, required: ['tag', 'val'], additionalProperties: false }
    : { type: 'object', properties: { tag: { const: tag } }, required: ['tag'], additionalProperties: false };
}

/** A tool's inputSchema: one property per parameter, all required except options. */
export function inputSchema(fn: FunctionDescription): JsonSchema {
  return {
    type: 'object',
    properties: Object.fromEntries(fn.params.map((p) => [p.name, schemaFor(p.type, 'input')])),
    required: fn.params.filter((p) => p.type.kind !== 'option').map((p) => p.name),
    additionalProperties: false,
  };
}

/**
 * A tool's outputSchema (MCP wants an object, so the value sits under `result`), or undefined when
 * the function returns nothing. For a WIT `result` it describes the `ok` value: errors are isError results.
 */
export function outputSchema(fn: FunctionDescription): JsonSchema | undefined {
  const value = fn.result?.kind === 'result' ? fn.result.ok : fn.result;
  if (!value) return undefined;
  return { type: 'object', properties: { result: schemaFor(value, 'output') }, required: ['result'] };
}

/** The function's WIT signature, for tool descriptions: `echo-point: func(v: point) -> point`. */
export function witSignature(fn: FunctionDescription): string {
  const params = fn.params.map((p) => `${p.name}: ${typeName(p.type)}`).join(', ');
  return `${fn.name}: func(${params})${fn.result ? ` -> ${typeName(fn.result)}` : ''}`;
}

function typeName(t: TypeDescription): string {
  switch (t.kind) {
    case 'record': case 'variant': case 'enum': case 'flags':
      return t.name ?? t.kind;
    case 'own':
      return t.resource;
    case 'borrow':
      return `borrow<${t.resource}>`;
    case 'list':
      return t.length === undefined ? `list<${typeName(t.element)}>` : `list<${typeName(t.element)}, ${t.length}>`;
    case 'tuple':
      return `tuple<${t.types.map(typeName).join(', ')}>`;
    case 'option':
      return `option<${typeName(t.type)}>`;
    case 'result':
      return t.ok || t.err ? `result<${t.ok ? typeName(t.ok) : '_'}${t.err ? `, ${typeName(t.err)}` : ''}>` : 'result';
    case 'future': case 'stream':
      return t.type ? `${t.kind}<${typeName(t.type)}>` : t.kind;
    default:
      return t.kind;
  }
}
