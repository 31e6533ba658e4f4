import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidPolicy } from '../errors.ts';
import { packageRoot } from '../package-info.ts';
import { schemaErrors, type Schema, type SchemaError } from './schema-check.ts';

type Section = 'policy' | 'capabilities' | 'resourceLimits';

let schema: Schema | undefined;

function loadSchema(): Schema {
  schema ??= JSON.parse(readFileSync(join(packageRoot(), 'schema', 'policy.schema.json'), 'utf8')) as Schema;
  return schema;
}

/** The JSON Schema shipped with the package (`wasm-sandbox/policy.schema.json`). */
export function policySchema(): Record<string, unknown> {
  return structuredClone(loadSchema()) as Record<string, unknown>;
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

/** Checks `value` against one part of the policy schema; throws InvalidPolicy naming the offending key's path. */
export function validatePolicySection(section: Section, value: unknown, prefix = ''): void {
  const root = loadSchema();
  const errors = schemaErrors(root, section === 'policy' ? root : { $ref: `#/definitions/${section}` }, value);
  if (errors.length > 0) throw describe(errors, prefix);
}
