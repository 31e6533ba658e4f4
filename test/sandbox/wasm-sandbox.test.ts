import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  WasmSandbox, Capabilities, ResourceLimits, WasmSandboxError, InvalidModule, ModuleNotFound, InstanceNotFound,
  FunctionNotFound, InvalidArguments, Trap, ResourceLimitExceeded, SecurityViolation, MissingImports, InvalidPolicy,
  SandboxClosed, inspect,
} from '../../src/index.ts';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/wat/${name}`, import.meta.url));
const ADD = fixture('add.wasm');

async function withAdd(fn: (s: WasmSandbox, id: string) => Promise<void>, config = {}) {
  const sandbox = await WasmSandbox.create();
  try {
    const moduleId = await sandbox.loadModule(ADD);
    await fn(sandbox, await sandbox.createInstance(moduleId, config));
  } finally {
    await sandbox.close();
  }
}

test('the README example: load, instantiate, call, handle, inspect, destroy', async () => {
  const sandbox = await WasmSandbox.create();
  assert.equal(sandbox.runtimeKind, 'inprocess');
  const moduleId = await sandbox.loadModule(ADD);
  const dir = mkdtempSync(join(tmpdir(), 'ws-'));
  writeFileSync(join(dir, 'add.wasm'), ADD);
  const fromFile = await sandbox.loadModuleFromFile(join(dir, 'add.wasm'));
  assert.notEqual(fromFile, moduleId);
  const instanceId = await sandbox.createInstance(moduleId, { capabilities: Capabilities.minimal(), resourceLimits: ResourceLimits.default() });
  assert.equal(await sandbox.callFunction(instanceId, 'add', [5, 3]), 8);
  const add = sandbox.getFunction<[number, number], number>(instanceId, 'add');
  assert.equal(await add(5, 3), 8);
  assert.equal(add.sync?.(2, 2), 4);
  assert.equal(sandbox.getFunction(instanceId, 'add'), add, 'handles are cached per instance and name');
  const info = sandbox.inspectModule(moduleId);
  assert.equal(info.kind, 'core');
  assert.deepEqual(info, inspect(ADD));
  assert.deepEqual(sandbox.listModules().map((m) => m.id), [moduleId, fromFile]);
  assert.ok(sandbox.listModules()[0].exports.includes('add'));
  assert.deepEqual(sandbox.listInstances().map((i) => i.id), [instanceId]);
  assert.equal(sandbox.listInstances()[0].moduleId, moduleId);
  await sandbox.destroyInstance(instanceId);
  sandbox.unloadModule(moduleId);
  assert.deepEqual(sandbox.listInstances(), []);
  assert.deepEqual(sandbox.listModules().map((m) => m.id), [fromFile]);
  await sandbox.close();
  await assert.rejects(sandbox.loadModule(ADD), SandboxClosed);
});

test('value types: i32, i64 from bigint or safe numbers, f32, f64, multi-value', async () => {
  await withAdd(async (s, id) => {
    assert.equal(await s.callFunction(id, 'add', [2 ** 31 - 1, 1]), -(2 ** 31), 'i32 wraps like wasm');
    assert.equal(await s.callFunction(id, 'add', [0xffffffff, 1]), 0, 'unsigned i32 accepted');
    assert.equal(await s.callFunction(id, 'add64', [2n ** 62n, 2n ** 62n]), -(2n ** 63n));
    assert.equal(await s.callFunction(id, 'add64', [40, 2]), 42n, 'safe-integer numbers become i64');
    assert.equal(await s.callFunction(id, 'addf', [0.1, 0.2]), 0.1 + 0.2);
    assert.equal(await s.callFunction(id, 'mul32f', [1.5, 2]), 3);
    assert.deepEqual(await s.callFunction(id, 'swap', [1, 2]), [2, 1]);
    assert.equal(await s.callFunction(id, 'trap', []).catch((e) => e.constructor), Trap);
  });
});

test('wrong arity or types → InvalidArguments naming the parameter and the expected type', async () => {
  await withAdd(async (s, id) => {
    const cases: [string, unknown[], number | undefined, string][] = [
      ['add', [1], undefined, 'takes 2 arguments'],
      ['add', [1, 2, 3], undefined, 'takes 2 arguments'],
      ['add', ['1', 2], 0, 'expected i32'],
      ['add', [1, 2.5], 1, 'expected i32'],
      ['add', [1, 2 ** 32], 1, 'expected i32'],
      ['add', [1, null], 1, 'expected i32'],
      ['add64', [1.5, 1n], 0, 'expected i64'],
      ['add64', [2 ** 60, 1n], 0, 'expected i64'],
      ['add64', [1n, 2n ** 64n], 1, 'expected i64'],
      ['addf', [1, 2n], 1, 'expected f64'],
      ['mul32f', [{}, 1], 0, 'expected f32'],
    ];
    for (const [fn, args, parameter, text] of cases) {
      await assert.rejects(s.callFunction(id, fn, args as never), (err: unknown) => {
        assert.ok(err instanceof InvalidArguments, `${fn}(${String(args)}) gave ${String(err)}`);
        assert.equal(err.code, 'INVALID_ARGUMENTS');
        assert.equal(err.parameter, parameter);
        assert.match(err.message, new RegExp(text));
        return true;
      });
    }
    const add = s.getFunction(id, 'add');
    assert.throws(() => add.sync!('x' as never, 1), InvalidArguments);
    await assert.rejects(add('x' as never, 1), InvalidArguments);
    await assert.rejects(s.callFunction(id, 'add', 'nope' as never), InvalidArguments);
  });
});

test('traps become typed Trap errors with their kind and wasm stack; the host stays alive', async () => {
  const traps: Trap[] = [];
  await withAdd(async (s, id) => {
    s.on('trap', (e) => traps.push(e.error));
    const expectTrap = async (fn: string, args: number[], kind: string) => {
      await assert.rejects(s.callFunction(id, fn, args), (err: unknown) => {
        assert.ok(err instanceof Trap, `${fn}: ${String(err)}`);
        assert.equal(err.kind, kind, `${fn}: ${err.message}`);
        assert.ok(err.wasmStack.length > 0, 'wasm frames reported');
        return true;
      });
    };
    await expectTrap('trap', [], 'unreachable');
    await expectTrap('div', [1, 0], 'divide-by-zero');
    await expectTrap('div', [-(2 ** 31), -1], 'integer-overflow');
    await expectTrap('oob', [], 'out-of-bounds');
    await expectTrap('recurse', [0], 'stack-overflow');
    assert.equal(await s.callFunction(id, 'add', [1, 1]), 2, 'instance still usable after plain traps');
    assert.equal(s.getMetrics(id).traps, 5);
    assert.equal(traps.length, 5, "each trap is reported as a 'trap' event");
  });
});

test('missing ids and functions give typed errors', async () => {
  await withAdd(async (s, id) => {
    await assert.rejects(s.callFunction(id, 'nope', []), (err: unknown) => err instanceof FunctionNotFound && err.available.includes('add'));
    assert.throws(() => s.getFunction(id, 'nope'), FunctionNotFound);
    assert.throws(() => s.getFunction(id, 'memory'), FunctionNotFound, 'a memory export is not a function');
    await assert.rejects(s.callFunction('instance-999', 'add', [1, 2]), InstanceNotFound);
    await assert.rejects(s.createInstance('module-999'), ModuleNotFound);
    assert.throws(() => s.inspectModule('module-999'), ModuleNotFound);
    assert.throws(() => s.unloadModule('module-999'), ModuleNotFound);
    await assert.rejects(s.loadModuleFromFile('/definitely/not/here.wasm'), ModuleNotFound);
    const handle = s.getFunction(id, 'add');
    await s.destroyInstance(id);
    await assert.rejects(s.callFunction(id, 'add', [1, 2]), InstanceNotFound);
    await assert.rejects(handle(1, 2), InstanceNotFound, 'a cached handle of a destroyed instance');
    await assert.rejects(s.destroyInstance(id), InstanceNotFound);
  });
});

test('bad module bytes → InvalidModule; components are refused by loadModule', async () => {
  const sandbox = await WasmSandbox.create();
  const bad: [string, unknown][] = [
    ['empty', new Uint8Array()],
    ['truncated', ADD.subarray(0, ADD.length - 7)],
    ['text', new TextEncoder().encode('(module (func))')],
    ['random', new Uint8Array(256).map((_, i) => (i * 7919) & 255)],
    ['component', new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0])],
  ];
  for (const [name, bytes] of bad) {
    await assert.rejects(sandbox.loadModule(bytes as Uint8Array), InvalidModule, name);
  }
  await assert.rejects(sandbox.loadModule('not bytes' as never), InvalidArguments);
  await assert.rejects(sandbox.loadModule(null as never), InvalidArguments);
  // Valid structure, invalid code: the parser accepts it, the engine's validation must not crash the host.
  const invalidBody = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 10, 4, 1, 2, 0, 11]);
  await assert.rejects(sandbox.loadModule(invalidBody), InvalidModule);
  await sandbox.close();
});

test('a module declaring 65536 initial pages is refused before allocation', async () => {
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(fixture('big_initial.wasm'));
  await assert.rejects(sandbox.createInstance(moduleId), (err: unknown) => {
    assert.ok(err instanceof ResourceLimitExceeded);
    assert.equal(err.limit, 'memory');
    assert.equal(err.max, 256 * 1024 * 1024);
    assert.equal(err.observed, 65536 * 65536);
    return true;
  });
  await sandbox.close();
});

test('imports: every missing one listed at once; host functions only with the capability', async () => {
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(fixture('imports.wasm'));
  await assert.rejects(sandbox.createInstance(moduleId), (err: unknown) => {
    assert.ok(err instanceof MissingImports);
    assert.deepEqual(err.missing.map((m) => `${m.module}.${m.name}:${m.kind}`).sort(), ['env.g:global', 'env.log:function', 'env.mem:memory', 'env.tbl:table', 'host.now:function']);
    return true;
  });
  const logged: number[] = [];
  const config = {
    hostFunctions: { env: { log: (_ctx: unknown, v: number) => { logged.push(v); } }, host: { now: () => 12.5 } },
    imports: { env: { mem: new WebAssembly.Memory({ initial: 1 }), g: new WebAssembly.Global({ value: 'i32' }, 100), tbl: new WebAssembly.Table({ initial: 1, element: 'anyfunc' }) } },
  };
  await assert.rejects(sandbox.createInstance(moduleId, config), (err: unknown) => {
    assert.ok(err instanceof SecurityViolation);
    assert.equal(err.capability, 'hostFunctions');
    assert.match(err.message, /env\.log/);
    return true;
  });
  const id = await sandbox.createInstance(moduleId, { ...config, capabilities: Capabilities.minimal().withHostFunctions('env.log', 'host.*') });
  assert.equal(await sandbox.callFunction(id, 'started', []), 1, 'start function ran');
  assert.equal(await sandbox.callFunction(id, 'run', [5]), 105);
  assert.equal(await sandbox.callFunction(id, 'time', []), 12.5);
  assert.deepEqual(logged, [5]);
  assert.equal(sandbox.getMetrics(id).hostFunctionCalls, 2);
  // Wrong kind for an extern import counts as missing, not as a raw LinkError.
  await assert.rejects(
    sandbox.createInstance(moduleId, { ...config, capabilities: Capabilities.minimal().withHostFunctions('env.*', 'host.*'), imports: { env: { ...config.imports.env, mem: new WebAssembly.Global({ value: 'i32' }, 1) as never } } }),
    (err: unknown) => err instanceof MissingImports && err.missing.length === 1 && err.missing[0].name === 'mem',
  );
  await sandbox.close();
});

test('a host function that throws traps the guest with a typed error', async () => {
  const sandbox = await WasmSandbox.create();
  const moduleId = await sandbox.loadModule(fixture('imports.wasm'));
  const id = await sandbox.createInstance(moduleId, {
    capabilities: { hostFunctions: ['env.*', 'host.*'] },
    hostFunctions: { env: { log: () => { throw new Error('boom'); } }, host: { now: () => 0 } },
    imports: { env: { mem: new WebAssembly.Memory({ initial: 1 }), g: new WebAssembly.Global({ value: 'i32' }, 0), tbl: new WebAssembly.Table({ initial: 1, element: 'anyfunc' }) } },
  });
  await assert.rejects(sandbox.callFunction(id, 'run', [1]), (err: unknown) => err instanceof Trap && err.kind === 'host-error' && /boom/.test(err.message));
  await sandbox.close();
});

test('instance configs are validated like policies', async () => {
  await withAdd(async (s) => {
    const moduleId = s.listModules()[0].id;
    await assert.rejects(s.createInstance(moduleId, { capabilities: { network: 'all' } as never }), InvalidPolicy);
    await assert.rejects(s.createInstance(moduleId, { resourceLimits: { memory: { maxMemoryBytes: 'huge' } } }), InvalidPolicy);
    await assert.rejects(s.createInstance(moduleId, { capabilites: {} } as never), InvalidArguments);
    await assert.rejects(s.createInstance(moduleId, { hostFunctions: { env: { log: 5 } } } as never), InvalidArguments);
  });
  await assert.rejects(WasmSandbox.create({ runtime: 'gpu' as never }), InvalidArguments);
});

test('metrics count calls and report memory', async () => {
  await withAdd(async (s, id) => {
    await s.callFunction(id, 'add', [1, 2]);
    s.getFunction(id, 'add').sync!(1, 2);
    const m = s.getMetrics(id);
    assert.equal(m.calls, 2);
    assert.equal(m.memoryBytes, 65536);
    assert.equal(m.peakMemoryBytes, 65536);
    assert.ok(m.wallTimeMs >= 0);
  });
});

test('every error is a WasmSandboxError with a stable code', () => {
  for (const e of [new Trap('unreachable', 'x'), new InvalidModule('x'), new ResourceLimitExceeded('fuel', 1, 2), new SecurityViolation('network', 'x')]) {
    assert.ok(e instanceof WasmSandboxError);
    assert.equal(typeof e.code, 'string');
    assert.equal(e.name, e.constructor.name);
  }
});
