// Own file on purpose: it uses up this process's address space for wasm memories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WasmSandbox, ResourceLimitExceeded, ResourceLimits } from '../../src/index.ts';

test('running out of address space for wasm memories is a typed error naming the instances limit', async () => {
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(readFileSync(new URL('../../fixtures/wat/add.wasm', import.meta.url)));
  const ids: string[] = [];
  let failure: unknown;
  for (let i = 0; i < 40_000; i++) {
    try {
      ids.push(await sandbox.createInstance(moduleId, { resourceLimits: ResourceLimits.unlimited() }));
    } catch (err) {
      failure = err;
      break;
    }
  }
  assert.ok(failure instanceof ResourceLimitExceeded, `expected a typed error, got ${String(failure)}`);
  assert.equal(failure.limit, 'instances');
  assert.ok(failure.max >= ids.length && ids.length > 1000, `failed after ${ids.length} instances`);
  assert.equal(await sandbox.callFunction(ids[0], 'add', [1, 2]), 3, 'existing instances keep working');
  await sandbox.close();
});
