import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generate } from '../../scripts/build-policy-validators.ts';
import { policySchema } from '../../src/index.ts';

test('the generated policy validators match the shipped schema', () => {
  const committed = readFileSync(new URL('../../src/security/policy-validators.generated.ts', import.meta.url), 'utf8');
  assert.equal(committed, generate(), 'run `npm run schema` after editing schema/policy.schema.json');
});

test('the schema is exported and describes both sections', () => {
  const schema = policySchema() as { properties: Record<string, unknown>; additionalProperties: boolean };
  assert.deepEqual(Object.keys(schema.properties).sort(), ['$schema', 'capabilities', 'resourceLimits']);
  assert.equal(schema.additionalProperties, false);
});
