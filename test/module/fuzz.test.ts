/**
 * Robustness: mutated binaries must only ever produce `WasmSandboxError`s (never a RangeError,
 * TypeError, hang or runaway allocation). Each target is one entry point fed every mutation;
 * add further entry points (e.g. the facade's loading path) to `targets`.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WasmSandboxError } from '../../src/errors.ts';
import { detectFeatures } from '../../src/module/features.ts';
import { inspect } from '../../src/module/inspect.ts';
import { instrument } from '../../src/module/instrument.ts';
import { mutations } from '../helpers/mutate.ts';

const fixtureDir = fileURLToPath(new URL('../../fixtures/wat/', import.meta.url));
const fixtures = readdirSync(fixtureDir)
  .filter((f) => f.endsWith('.wasm'))
  .sort()
  .map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(fixtureDir + f)) }));

const PER_FIXTURE = 400;

export interface FuzzTarget {
  name: string;
  run(bytes: Uint8Array): unknown;
  /** Also require success on every mutant the engine itself accepts. */
  mustAcceptValid?: boolean;
  /** Also require failure on every mutant the engine rejects: invalid stays invalid. */
  mustRejectInvalid?: boolean;
  /** Extra assertion on a successful result for a mutant the engine accepts. */
  checkValid?(result: unknown, bytes: Uint8Array): void;
}

export const targets: FuzzTarget[] = [
  { name: 'inspect', run: inspect, mustAcceptValid: true },
  { name: 'detectFeatures', run: (bytes) => detectFeatures(bytes, { walkCode: true }), mustAcceptValid: true },
  {
    name: 'instrument',
    run: (bytes) => instrument(bytes, { meter: true, routeMemoryGrow: true, tableMaxElements: 10_000_000 }),
    mustAcceptValid: true,
    mustRejectInvalid: true,
    checkValid(result, bytes) {
      const out = (result as ReturnType<typeof instrument>).bytes;
      assert.ok(WebAssembly.validate(out as Uint8Array<ArrayBuffer>), `instrumenting a valid module gave an invalid one (${bytes.length} bytes in)`);
    },
  },
];

function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

for (const target of targets) {
  describe(`fuzz: ${target.name}`, () => {
    test('has enough fixtures to be meaningful', () => {
      assert.ok(fixtures.length * PER_FIXTURE >= 1000, `only ${fixtures.length} fixtures`);
    });
    for (const fixture of fixtures) {
      test(`${PER_FIXTURE} mutants of ${fixture.name}`, () => {
        let rejected = 0;
        for (const m of mutations(seedOf(fixture.name), fixture.bytes, PER_FIXTURE)) {
          try {
            const result = target.run(m.bytes);
            const valid = WebAssembly.validate(m.bytes as Uint8Array<ArrayBuffer>);
            if (target.mustRejectInvalid && !valid) assert.fail(`${m.description}: the engine rejects the mutant but ${target.name} accepted it`);
            if (target.checkValid && valid) target.checkValid(result, m.bytes);
          } catch (e) {
            if (e instanceof assert.AssertionError) throw new assert.AssertionError({ message: `${m.description}: ${e.message}` });
            if (!(e instanceof WasmSandboxError)) {
              assert.fail(`${m.description}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
            }
            if (target.mustAcceptValid && WebAssembly.validate(m.bytes as Uint8Array<ArrayBuffer>)) {
              assert.fail(`${m.description}: engine accepts the mutant but ${target.name} threw ${(e as Error).message}`);
            }
            rejected++;
          }
        }
        // Sanity: the mutator must actually break most inputs.
        assert.ok(rejected > PER_FIXTURE / 4, `only ${rejected} of ${PER_FIXTURE} mutants were rejected`);
      });
    }
  });
}
