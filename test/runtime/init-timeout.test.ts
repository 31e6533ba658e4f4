import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FunctionNotFound, InvalidArguments, InvalidPolicy, loadPolicy, ResourceLimits, Timeout, WasmSandbox, type ResourceLimitsInit } from '../../src/index.ts';
import { wat } from '../helpers/wat.ts';
import { inspect } from '../../src/module/inspect.ts';
import { instrumentationFor, runsAtInit } from '../../src/runtime/limits/instrumentation-plan.ts';

// A reactor whose `_initialize` counts to `n` (n = 0: forever), and an export that spins forever.
const reactor = (n: number) => wat(`(module
  (global $n (mut i32) (i32.const 0))
  (func (export "_initialize")
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br_if $l (i32.or (i32.eqz (i32.const ${n})) (i32.lt_u (global.get $n) (i32.const ${n}))))))
  (func (export "spin") (loop $l (br $l))))`);

function timeoutOf(kind: Timeout['kind'], ms: number) {
  return (err: unknown) => {
    assert.ok(err instanceof Timeout, `expected Timeout, got ${String(err)}`);
    assert.equal(err.kind, kind);
    assert.equal(err.timeoutMs, ms);
    return true;
  };
}

for (const runtime of ['inprocess', 'worker'] as const) {
  test(`${runtime}: _initialize is held to time.initTimeoutMs, not to the call deadline`, async () => {
    const sandbox = await WasmSandbox.create({ runtime });
    try {
      // Far more work than a 1 ms call deadline allows: it must still finish.
      const moduleId = await sandbox.loadModule(await reactor(50_000_000));
      const limits: ResourceLimitsInit = { time: { callTimeoutMs: 1, initTimeoutMs: null } };
      // (A call here would race its own 1 ms deadline; creating the instance is what is checked.)
      const id = await sandbox.createInstance(moduleId, { resourceLimits: limits });
      await assert.rejects(sandbox.callFunction(id, 'spin'), timeoutOf('call', 1), 'calls keep their own deadline');

      const endless = await sandbox.loadModule(await reactor(0));
      await assert.rejects(
        sandbox.createInstance(endless, { resourceLimits: { time: { callTimeoutMs: null, initTimeoutMs: 50 } } }),
        timeoutOf('initialization', 50),
      );
    } finally {
      await sandbox.close();
    }
  });
}

// An interpreter-style module: no _initialize, but an init export the embedder calls first.
const interpreter = wat(`(module
  (global $n (mut i32) (i32.const 0))
  (func (export "setup") (param $until i32)
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br_if $l (i32.or (i32.eqz (local.get $until)) (i32.lt_u (global.get $n) (local.get $until))))))
  (func (export "spin") (loop $l (br $l))))`);

for (const runtime of ['inprocess', 'worker'] as const) {
  test(`${runtime}: an init export named by createInstance's initialize runs under initTimeoutMs too`, async () => {
    const sandbox = await WasmSandbox.create({ runtime });
    try {
      const moduleId = await sandbox.loadModule(await interpreter);
      const id = await sandbox.createInstance(moduleId, {
        resourceLimits: { time: { callTimeoutMs: 1, initTimeoutMs: null } },
        initialize: { function: 'setup', args: [50_000_000] },
      });
      await assert.rejects(sandbox.callFunction(id, 'spin'), timeoutOf('call', 1));
      await assert.rejects(
        sandbox.createInstance(moduleId, { resourceLimits: { time: { callTimeoutMs: null, initTimeoutMs: 50 } }, initialize: { function: 'setup', args: [0] } }),
        timeoutOf('initialization', 50),
      );
      await assert.rejects(sandbox.createInstance(moduleId, { initialize: { function: 'nope' } }), FunctionNotFound);
      await assert.rejects(sandbox.createInstance(moduleId, { initialize: { function: 'setup', args: ['x' as unknown as number] } }), InvalidArguments);
    } finally {
      await sandbox.close();
    }
  });
}

test('initTimeoutMs has a default an interpreter can start in, is in policy files, and is validated', () => {
  assert.equal(ResourceLimits.default().time.initTimeoutMs, 60_000);
  assert.ok(ResourceLimits.default().time.initTimeoutMs! > ResourceLimits.default().time.callTimeoutMs!);
  assert.equal(ResourceLimits.unlimited().time.initTimeoutMs, null);
  assert.equal(ResourceLimits.from({ time: { initTimeoutMs: '2m' } }).time.initTimeoutMs, 120_000);
  const dir = mkdtempSync(join(tmpdir(), 'init-'));
  writeFileSync(join(dir, 'p.yaml'), 'resourceLimits:\n  time: { initTimeoutMs: 90s, callTimeoutMs: 100ms }\n');
  const policy = loadPolicy(join(dir, 'p.yaml'));
  assert.equal(policy.resourceLimits.time.initTimeoutMs, 90_000);
  assert.equal(policy.resourceLimits.time.callTimeoutMs, 100);
  assert.throws(() => ResourceLimits.from({ time: { initTimeoutMs: -1 } }), (err: unknown) => err instanceof InvalidPolicy && /initTimeoutMs/.test(err.message));
});

test('the initialisation deadline meters only modules that run code while they are made', async () => {
  const onlyInit = ResourceLimits.unlimited().with({ time: { initTimeoutMs: '60s' } });
  const pure = inspect(await wat('(module (func (export "f")))'));
  const started = inspect(await wat('(module (func $s) (start $s))'));
  const reactorInfo = inspect(await reactor(1));
  assert.equal(runsAtInit(pure, {}), false);
  assert.equal(runsAtInit(pure, { initialize: { function: 'f', args: [] } }), true);
  assert.equal(runsAtInit(started, {}), true);
  assert.equal(runsAtInit(reactorInfo, {}), true);
  assert.equal(instrumentationFor(onlyInit, { initCode: false }), null, 'nothing runs at init: no meter for its deadline');
  assert.equal(instrumentationFor(onlyInit, { initCode: true })?.meter, true);
});
