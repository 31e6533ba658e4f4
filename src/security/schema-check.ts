/**
 * Checks a value against the JSON Schema subset the policy schema is written in (draft-07: `type`,
 * `enum`, `properties`, `additionalProperties`, `required`, `oneOf`, `items`, `propertyNames`,
 * `pattern`, `minimum`, `minLength` and local `$ref`s; `description` and `default` are annotations
 * for editors and are not checked), reporting errors the way ajv does with
 * `allErrors`. Walking the schema costs microseconds on a policy-sized value, where generated
 * validators cost a couple of milliseconds of parsing on every start of the command line; a test
 * holds this to ajv's verdicts.
 */

export interface SchemaError {
  keyword: string;
  /** JSON pointer of the offending value. */
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

export interface Schema {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  required?: string[];
  oneOf?: Schema[];
  items?: Schema;
  propertyNames?: Schema;
  pattern?: string;
  minimum?: number;
  minLength?: number;
  $ref?: string;
  definitions?: Record<string, Schema>;
}

const patterns = new Map<string, RegExp>();

function regex(source: string): RegExp {
  let re = patterns.get(source);
  if (!re) {
    re = new RegExp(source);
    patterns.set(source, re);
  }
  return re;
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}

function pointer(base: string, key: string | number): string {
  return `${base}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

/** Every error in `value` against `schema` (empty when valid); `root` resolves `#/definitions/...` refs. */
export function schemaErrors(root: Schema, schema: Schema, value: unknown, path = ''): SchemaError[] {
  const errors: SchemaError[] = [];
  check(root, schema, value, path, errors);
  return errors;
}

function check(root: Schema, schema: Schema, value: unknown, path: string, errors: SchemaError[]): void {
  const fail = (keyword: string, params: Record<string, unknown>, message: string) => errors.push({ keyword, instancePath: path, params, message });
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace(/^#\/definitions\//, '');
    const target = root.definitions?.[name];
    if (!target) throw new Error(`schema reference ${schema.$ref} does not resolve`);
    check(root, target, value, path, errors);
    return;
  }
  if (schema.type !== undefined && !typeMatches(schema.type, value)) {
    // A value of the wrong type has nothing else worth reporting.
    fail('type', { type: schema.type }, `must be ${schema.type}`);
    return;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    fail('enum', { allowedValues: schema.enum }, 'must be equal to one of the allowed values');
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      fail('minLength', { limit: schema.minLength }, `must NOT have fewer than ${schema.minLength} characters`);
    }
    if (schema.pattern !== undefined && !regex(schema.pattern).test(value)) {
      fail('pattern', { pattern: schema.pattern }, `must match pattern "${schema.pattern}"`);
    }
  }
  if (typeof value === 'number' && schema.minimum !== undefined && !(value >= schema.minimum)) {
    fail('minimum', { comparison: '>=', limit: schema.minimum }, `must be >= ${schema.minimum}`);
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    for (let i = 0; i < value.length; i++) check(root, schema.items, value[i], pointer(path, i), errors);
  }
  if (typeMatches('object', value)) checkObject(root, schema, value as Record<string, unknown>, path, errors, fail);
  if (schema.oneOf !== undefined) {
    const branches = schema.oneOf.map((branch) => schemaErrors(root, branch, value, path));
    const passing = branches.filter((b) => b.length === 0).length;
    if (passing !== 1) {
      if (passing === 0) for (const b of branches) errors.push(...b);
      fail('oneOf', { passingSchemas: passing === 0 ? null : passing }, 'must match exactly one schema in oneOf');
    }
  }
}

function checkObject(root: Schema, schema: Schema, value: Record<string, unknown>, path: string, errors: SchemaError[], fail: (keyword: string, params: Record<string, unknown>, message: string) => void): void {
  for (const name of schema.required ?? []) {
    if (!Object.hasOwn(value, name)) fail('required', { missingProperty: name }, `must have required property '${name}'`);
  }
  for (const key of Object.keys(value)) {
    if (schema.propertyNames !== undefined) {
      const nameErrors = schemaErrors(root, schema.propertyNames, key, path);
      if (nameErrors.length > 0) {
        for (const e of nameErrors) errors.push({ ...e, params: { ...e.params, propertyName: key } });
        fail('propertyNames', { propertyName: key }, 'property name must be valid');
      }
    }
    const declared = schema.properties?.[key];
    if (declared !== undefined) {
      check(root, declared, value[key], pointer(path, key), errors);
    } else if (schema.additionalProperties === false) {
      fail('additionalProperties', { additionalProperty: key }, 'must NOT have additional properties');
    } else if (typeof schema.additionalProperties === 'object') {
      check(root, schema.additionalProperties, value[key], pointer(path, key), errors);
    }
  }
}
