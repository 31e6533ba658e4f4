import { readFileSync } from 'node:fs';
import { InvalidPolicy } from '../errors.ts';
import { packageRoot } from '../package-info.ts';
import * as validators from './policy-validators.generated.ts';

type Section = 'policy' | 'capabilities' | 'resourceLimits';

/** The subset of ajv's error objects the messages are built from. */
interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

type Validator = ((value: unknown) => boolean) & { errors?: SchemaError[] | null };

let schema: Record<string, unknown> | undefined;

/** The JSON Schema shipped with the package (`wasm-sandbox/policy.schema.json`). */
export function policySchema(): Record<string, unknown> {
  schema ??= JSON.parse(readFileSync(new URL('schema/policy.schema.json', packageRoot()), 'utf8')) as Record<string, unknown>;
  return structuredClone(schema);
}

/** Picks the error a person can act on: unknown keys first, then the deepest path (oneOf branches report shallow noise). */
function describe(errors: SchemaError[], prefix: string): InvalidPolicy {
  const unknown = errors.find((e) => e.keyword === 'additionalProperties');
  if (unknown) {
    const key = unknown.params.additionalProperty as string;
    return new InvalidPolicy(`${prefix}${unknown.instancePath}/${key}`, `unknown key '${key}'`);
  }
  const deepest = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length || rank(a) - rank(b))[0];
  const allowed = errors.find((e) => e.instancePath === deepest.instancePath && e.keyword === 'enum');
  const message = allowed
    ? `must be one of ${(allowed.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
    : deepest.message ?? 'invalid value';
  return new InvalidPolicy(`${prefix}${deepest.instancePath}`, message);
}

function rank(e: SchemaError): number {
  return e.keyword === 'oneOf' ? 2 : e.keyword === 'type' ? 1 : 0;
}

/**
 * Checks `value` against one part of the policy schema; throws InvalidPolicy naming the offending key's
 * path. The validators are generated ahead of time from the schema (scripts/build-policy-validators.ts).
 */
export function validatePolicySection(section: Section, value: unknown, prefix = ''): void {
  const validate = (validators as Record<Section, Validator>)[section];
  if (!validate(value)) throw describe(validate.errors ?? [], prefix);
}
