/**
 * The grant decisions `inspect` reports are the ones the hosts enforce: for every grant kind a
 * preview1 function needs, "not granted" in `unmetRequirements` holds exactly when `isGranted`
 * says so, and for `exit` the enforcing call (`exitCode`) agrees with both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Capabilities, ResourceLimits, SecurityViolation, WasmSandbox } from '../../src/index.ts';
import { exitCode, isGranted } from '../../src/host/grants.ts';
import { inspect } from '../../src/module/inspect.ts';
import { unmetRequirements } from '../../src/security/requirements.ts';

const parity = inspect(readFileSync(new URL('../../fixtures/wasi/parity.wasm', import.meta.url)));

const GRANTS = [
  Capabilities.minimal(),
  Capabilities.cli(),
  Capabilities.minimal().with({ exit: true }),
  Capabilities.minimal().with({ clock: 'virtual', random: { seed: 1 } }),
  Capabilities.minimal().with({ env: { inherit: [], set: { A: 'b' } } }),
];

test('inspect lists a capability as not granted exactly when the core refuses it', () => {
  for (const caps of GRANTS) {
    const unmet = new Set(unmetRequirements(parity, caps, ResourceLimits.default()).map((r) => r.capability));
    for (const kind of ['exit', 'clock', 'random', 'env', 'filesystem'] as const) {
      assert.equal(unmet.has(kind), !isGranted(kind, caps), `${kind} with ${JSON.stringify(caps.toJSON())}`);
    }
  }
});

test('exit: what inspect says is what the host does', () => {
  for (const caps of GRANTS) {
    const listed = unmetRequirements(parity, caps, ResourceLimits.default()).some((r) => r.capability === 'exit');
    if (listed) assert.throws(() => exitCode(caps, 3), (e: unknown) => e instanceof SecurityViolation && e.capability === 'exit');
    else assert.equal(exitCode(caps, 3), 3);
  }
});

test('an Extism plugin needs no host-function grant: inspect says so, and it runs under the minimal grant', async () => {
  const bytes = readFileSync(new URL('../../fixtures/abi/wat/extism_plugin.wasm', import.meta.url));
  assert.deepEqual(unmetRequirements(inspect(bytes), Capabilities.minimal(), ResourceLimits.default()), []);
  const sandbox = await WasmSandbox.create();
  try {
    const id = await sandbox.createInstance(await sandbox.loadModule(bytes), { capabilities: Capabilities.minimal() });
    assert.ok(sandbox.getMetrics(id));
  } finally {
    await sandbox.close();
  }
});
