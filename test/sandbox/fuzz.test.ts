/**
 * The facade under mutated input: loading, instantiating (which runs start functions) and calling
 * mutants must only ever produce WasmSandboxErrors, never crash or hang the host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WasmSandbox, WasmSandboxError, inspect } from '../../src/index.ts';
import { mutations } from '../helpers/mutate.ts';

const dir = fileURLToPath(new URL('../../fixtures/wat/', import.meta.url));
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.wasm')).sort().map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(dir + f)) }));
const PER_FIXTURE = Math.ceil(1200 / fixtures.length);

test(`${PER_FIXTURE * fixtures.length} mutants through loadModule / createInstance / inspect / calls`, async () => {
  const sandbox = await WasmSandbox.create();
  const config = {
    capabilities: { hostFunctions: ['env.*', 'host.*'] },
    resourceLimits: { memory: { maxMemoryBytes: '16MiB' }, time: { callTimeoutMs: 100 }, cpu: { fuel: 5_000_000 } },
    hostFunctions: { env: { log: () => {} }, host: { now: () => 0 } },
  };
  let loaded = 0;
  let instantiated = 0;
  const expectTyped = (what: string, err: unknown) => {
    if (!(err instanceof WasmSandboxError)) assert.fail(`${what}: threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  };
  let seed = 1;
  for (const fixture of fixtures) {
    for (const m of mutations(seed++ * 7919, fixture.bytes, PER_FIXTURE)) {
      const what = `${fixture.name} ${m.description}`;
      try {
        inspect(m.bytes);
      } catch (err) {
        expectTyped(`inspect ${what}`, err);
      }
      let moduleId: string;
      try {
        moduleId = await sandbox.loadModule(m.bytes);
        loaded++;
      } catch (err) {
        expectTyped(`loadModule ${what}`, err);
        continue;
      }
      try {
        const instanceId = await sandbox.createInstance(moduleId, config);
        instantiated++;
        for (const e of sandbox.inspectModule(moduleId).exports) {
          if (e.kind !== 'function' || e.name.includes('forever') || e.name === 'recurse') continue;
          const args = e.signature!.params.map((p) => (p === 'i64' ? 1n : 1));
          await sandbox.callFunction(instanceId, e.name, args).catch((err) => expectTyped(`call ${e.name} ${what}`, err));
        }
        await sandbox.destroyInstance(instanceId);
      } catch (err) {
        expectTyped(`createInstance ${what}`, err);
      }
      sandbox.unloadModule(moduleId);
    }
  }
  await sandbox.close();
  console.log(`fuzz: ${loaded} mutants loaded, ${instantiated} instantiated`);
  assert.ok(loaded > 0 && instantiated > 0, `some mutants must survive to exercise the later stages (loaded ${loaded}, instantiated ${instantiated})`);
});
