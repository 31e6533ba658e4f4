import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { Capabilities, ResourceLimits, policySchema } from '../../src/index.ts';
import { schemaErrors, type Schema } from '../../src/security/schema-check.ts';

test('the schema is exported and describes its sections', () => {
  const schema = policySchema() as { properties: Record<string, unknown>; additionalProperties: boolean };
  assert.deepEqual(Object.keys(schema.properties).sort(), ['$schema', 'capabilities', 'resourceLimits', 'serve']);
  assert.equal(schema.additionalProperties, false);
});

const VALID = {
  $schema: './policy.schema.json',
  capabilities: {
    filesystem: [{ hostPath: '/data', guestPath: '/data', mode: 'read' }],
    network: { allow: ['example.com:443', '*.example.org:*'] },
    env: { inherit: ['HOME'], set: { A: 'b' } },
    args: ['--x'],
    stdio: { stdin: 'null', stdout: 'capture', stderr: 'inherit' },
    clock: 'virtual',
    random: { seed: 7 },
    hostFunctions: ['env.log'],
    exit: true,
  },
  resourceLimits: {
    memory: { maxMemoryBytes: '64MiB', maxMemoryPages: null, reservedMemoryPages: 2, maxGrowthRatePagesPerSec: 1.5, maxTableElements: 10, trapOnGrowFailure: false },
    cpu: { fuel: 1000, maxCpuTimeMs: '2s' },
    time: { callTimeoutMs: 500, instanceLifetimeMs: null },
    io: { maxFileDescriptors: 8, maxNetworkConnections: 0, maxReadBytes: 1, maxWriteBytes: '1KiB', maxOutputBytes: null, maxPayloadBytes: '1 MB' },
    stack: { maxStackBytes: 65536 },
  },
};

const SUBSTITUTES: unknown[] = [null, true, 0, -1, 1.5, 2 ** 40, '', 'x', '64 elephants', '1KiB', '2s', 'read', 'none', [], ['x'], [1], {}, { unknown: 1 }, { allow: 'x' }, { seed: 'x' }];

/** Every document that differs from VALID in one place: each value replaced, each key dropped, an unknown key added to each object. */
function* mutants(value: unknown, replace: (v: unknown) => unknown): Generator<unknown> {
  for (const s of SUBSTITUTES) yield replace(s);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* mutants(value[i], (v) => replace(value.map((x, j) => (j === i ? v : x))));
  } else if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    yield replace({ ...obj, notAKey: 1 });
    for (const key of Object.keys(obj)) {
      const { [key]: _dropped, ...rest } = obj;
      yield replace(rest);
      yield* mutants(obj[key], (v) => replace({ ...obj, [key]: v }));
    }
  }
}

test('the schema check agrees with ajv on every single-point mutation of a full policy', () => {
  const schema = policySchema() as Schema;
  const ajv = new Ajv({ allErrors: true, strict: false, unicode: false, logger: false });
  const validate = ajv.compile(schema);
  assert.ok(validate(VALID), JSON.stringify(validate.errors));
  assert.deepEqual(schemaErrors(schema, schema, VALID), []);
  let invalid = 0;
  let count = 0;
  for (const doc of mutants(VALID, (v) => v)) {
    count++;
    const ours = schemaErrors(schema, schema, doc).map((e) => `${e.keyword} ${e.instancePath}`).sort();
    const theirs = validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.keyword} ${e.instancePath}`).sort();
    assert.deepEqual(ours, theirs, `errors for ${JSON.stringify(doc)}`);
    if (theirs.length > 0) invalid++;
  }
  assert.ok(count > 500 && invalid > count / 2, `${count} mutants, ${invalid} invalid`);
});

interface AnnotatedSchema { description?: string; default?: unknown; properties?: Record<string, AnnotatedSchema>; oneOf?: AnnotatedSchema[]; items?: AnnotatedSchema }

/** Every declared property with its JSON path and the schema declaring it, through `oneOf` branches and array items. */
function* declaredProperties(schema: AnnotatedSchema, path: string[]): Generator<{ path: string[]; schema: AnnotatedSchema }> {
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    yield { path: [...path, key], schema: sub };
    yield* declaredProperties(sub, [...path, key]);
  }
  for (const branch of schema.oneOf ?? []) yield* declaredProperties(branch, path);
  if (schema.items) yield* declaredProperties(schema.items, [...path, '[]']);
}

function valueAt(root: unknown, path: string[]): unknown {
  let value = root;
  for (const key of path) {
    if (key === '[]' || typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

test('every schema property has a description, and the default the code applies when it is absent', () => {
  const schema = policySchema() as unknown as AnnotatedSchema & { definitions: Record<string, AnnotatedSchema> };
  const defaults = { capabilities: Capabilities.minimal().toJSON(), resourceLimits: ResourceLimits.default().toJSON() };
  const top = [...declaredProperties(schema, [])];
  const sections = Object.entries(schema.definitions).filter(([name]) => name in defaults).flatMap(([name, def]) => [...declaredProperties(def, [name])]);
  const all = [...top, ...sections];
  assert.ok(all.length >= 47, `${all.length} properties`);
  for (const { path, schema: property } of all) {
    const where = path.join('.');
    assert.ok(typeof property.description === 'string' && property.description.length > 20, `${where} has no description`);
    // A whole section defaults to {}, checked below: every key inside it keeps its own default.
    const expected = path.length > 1 ? valueAt(defaults, path) : undefined;
    if (expected !== undefined) assert.deepEqual(property.default, expected, `${where} default`);
  }
  assert.deepEqual(schema.properties?.capabilities.default, {});
  assert.deepEqual(schema.properties?.resourceLimits.default, {});
  assert.deepEqual(Capabilities.from({}).toJSON(), defaults.capabilities);
  assert.deepEqual(ResourceLimits.from({}).toJSON(), defaults.resourceLimits);
});
