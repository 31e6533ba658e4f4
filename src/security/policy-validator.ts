import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { InvalidPolicy } from '../errors.ts';

type Section = 'policy' | 'capabilities' | 'resourceLimits';

let schema: Record<string, unknown> | undefined;
const validators = new Map<Section, ValidateFunction>();

/** The JSON Schema shipped with the package (`wasm-sandbox/policy.schema.json`). */
export function policySchema(): Record<string, unknown> {
  schema ??= JSON.parse(readFileSync(new URL('../../schema/policy.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  return schema;
}

function validatorFor(section: Section): ValidateFunction {
  let v = validators.get(section);
  if (!v) {
    const root = policySchema();
    // Compile each section against the shared definitions so that one schema file stays the source of truth.
    const target = section === 'policy' ? root : { definitions: root.definitions, $ref: `#/definitions/${section}` };
    const compiled = new Ajv({ allErrors: true, strict: false }).compile(target);
    validators.set(section, compiled);
    return compiled;
  }
  return v;
}

/** Picks the error a person can act on: unknown keys first, then the deepest path (oneOf branches report shallow noise). */
function describe(errors: ErrorObject[], prefix: string): InvalidPolicy {
  const unknown = errors.find((e) => e.keyword === 'additionalProperties');
  if (unknown) {
    const key = (unknown.params as { additionalProperty: string }).additionalProperty;
    return new InvalidPolicy(`${prefix}${unknown.instancePath}/${key}`, `unknown key '${key}'`);
  }
  const deepest = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length || rank(a) - rank(b))[0];
  const allowed = errors.find((e) => e.instancePath === deepest.instancePath && e.keyword === 'enum');
  const message = allowed
    ? `must be one of ${(allowed.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
    : deepest.message ?? 'invalid value';
  return new InvalidPolicy(`${prefix}${deepest.instancePath}`, message);
}

function rank(e: ErrorObject): number {
  return e.keyword === 'oneOf' ? 2 : e.keyword === 'type' ? 1 : 0;
}

/** Checks `value` against one part of the policy schema; throws InvalidPolicy naming the offending key's path. */
export function validatePolicySection(section: Section, value: unknown, prefix = ''): void {
  const validate = validatorFor(section);
  if (!validate(value)) throw describe(validate.errors ?? [], prefix);
}
