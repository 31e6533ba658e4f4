/**
 * Hostile guests against the engine, on both runtimes, with default limits and with
 * `ResourceLimits.unlimited()` where the runtime must still protect itself (the host's own safety is
 * not a limit the user can lift). Every case asserts a typed error and a host that still works
 * afterwards: a fresh instance of an ordinary module answers.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  InstanceUnusable, InvalidArguments, InvalidModule, ResourceLimitExceeded, SandboxClosed, Timeout, Trap, WasmSandboxError,
} from '../../src/errors.ts';
import { ResourceLimits } from '../../src/security/resource-limits.ts';
import { WasmSandbox, type InstanceConfig } from '../../src/sandbox/wasm-sandbox.ts';
import type { HostContext } from '../../src/runtime/host-context.ts';
import type { RuntimeKind } from '../../src/runtime/types.ts';
import { wat } from '../helpers/wat.ts';
import { core, section, str } from '../helpers/binary.ts';
import { rejection } from '../helpers/rejection.ts';
import { runtime as componentRuntime } from '../component/helpers.ts';

function fixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(fileURLToPath(new URL(`../../fixtures/${path}`, import.meta.url))));
}

function isLimit(limit: string): (e: unknown) => boolean {
  return (e) => e instanceof ResourceLimitExceeded && e.limit === limit;
}

const DEADLINE: InstanceConfig = { resourceLimits: { time: { callTimeoutMs: 200 } } };
const UNLIMITED: InstanceConfig = { resourceLimits: ResourceLimits.unlimited() };

for (const runtime of ['inprocess', 'worker'] as RuntimeKind[]) {
  describe(`hostile engine guests: ${runtime}`, () => {
    let sandbox: WasmSandbox;
    let add: string;
    before(async () => {
      sandbox = await WasmSandbox.create({ runtime });
      add = await sandbox.loadModule(fixture('wat/add.wasm'));
    });
    after(() => sandbox.close());

    /** The host still runs guests: a fresh instance answers. */
    async function alive(): Promise<void> {
      const id = await sandbox.createInstance(add);
      assert.equal(await sandbox.callFunction(id, 'add', [20, 22]), 42);
      await sandbox.destroyInstance(id);
    }

    /** A call that must end with a typed error matching `expected`. */
    async function fails(moduleId: string, name: string, args: number[], config: InstanceConfig, expected: (e: unknown) => boolean): Promise<Error> {
      const id = await sandbox.createInstance(moduleId, config);
      const err = await rejection(sandbox.callFunction(id, name, args));
      assert.ok(err instanceof WasmSandboxError, `${name}: ${String(err)}`);
      assert.ok(expected(err), `${name}: ${String(err)}`);
      await sandbox.destroyInstance(id);
      await alive();
      return err;
    }

    test('shared-memory waits (32 and 64) and notify storms', async () => {
      const bytes = fixture('hostile/shared_wait.wasm');
      if (runtime === 'inprocess') {
        const err = await rejection(sandbox.loadModule(bytes));
        assert.ok(err instanceof InvalidModule && err.feature === 'threads', String(err));
        assert.match(err.message, /'threads'.*memory 0 is shared/);
        await alive();
        return;
      }
      const mod = await sandbox.loadModule(bytes);
      for (const name of ['wait32', 'wait64']) await fails(mod, name, [-1], DEADLINE, (e) => e instanceof Timeout);
      await fails(mod, 'notify_storm', [], DEADLINE, (e) => e instanceof Timeout);
      // Without a deadline a wait is the embedder's to end: closing the sandbox stops it.
      const other = await WasmSandbox.create({ runtime });
      const id = await other.createInstance(await other.loadModule(bytes), UNLIMITED);
      const waiting = rejection(other.callFunction(id, 'wait32', [-1]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await other.close();
      const err = await waiting;
      assert.ok(err instanceof InstanceUnusable || err instanceof SandboxClosed || err instanceof Trap, String(err));
    });

    test('GC allocation loops: structs, arrays, i31, and one huge array', async () => {
      const bytes = fixture('hostile/gc_loops.wasm');
      if (runtime === 'inprocess') {
        const err = await rejection(sandbox.loadModule(bytes));
        assert.ok(err instanceof InvalidModule && err.feature === 'gc', String(err));
        assert.match(err.message, /worker runtime .* accepts it/);
        await alive();
        return;
      }
      const mod = await sandbox.loadModule(bytes);
      const small: InstanceConfig = { resourceLimits: { memory: { maxMemoryBytes: '32MiB' }, time: { callTimeoutMs: 10_000 } } };
      await fails(mod, 'struct_chain', [], small, isLimit('memory'));
      await fails(mod, 'array_chain', [500_000], small, isLimit('memory'));
      await fails(mod, 'i31_loop', [], DEADLINE, (e) => e instanceof Timeout);
      // One allocation far past the heap limit would abort the process: it is refused before it is made.
      for (const config of [DEADLINE, UNLIMITED]) {
        const err = await fails(mod, 'big_array', [100_000_000], config, isLimit('memory'));
        assert.match(err.message, /wasm-GC array/);
      }
      const id = await sandbox.createInstance(mod, UNLIMITED);
      assert.equal(await sandbox.callFunction(id, 'big_array', [1000]), 1000);
    });

    test('exception throw loops stop at the deadline; an exception escaping to the host is a Trap', async () => {
      const mod = await sandbox.loadModule(fixture('hostile/throw_loop.wasm'));
      await fails(mod, 'throw_loop', [], DEADLINE, (e) => e instanceof Timeout);
      for (const config of [DEADLINE, UNLIMITED]) await fails(mod, 'throw_out', [], config, (e) => e instanceof Trap);
    });

    test('bulk memory and table instructions in loops stop at a 200 ms deadline', async () => {
      const mod = await sandbox.loadModule(fixture('hostile/bulk_loops.wasm'));
      for (const name of ['fill_loop', 'copy_loop', 'init_loop', 'table_fill_loop', 'table_copy_loop']) {
        await fails(mod, name, [], DEADLINE, (e) => e instanceof Timeout);
      }
    });

    test('many memories and tables: the limits are totals per instance', async () => {
      const memories = await sandbox.loadModule(await wat(`(module ${'(memory 4096) '.repeat(6)})`));
      const err = await rejection(sandbox.createInstance(memories));
      assert.ok(isLimit('memory')(err), String(err));
      const grown = await sandbox.loadModule(await wat(`(module (memory $a 1) (memory $b 1)
        (func (export "grow") (param i32 i32) (result i32)
          (i32.add (memory.grow $a (local.get 0)) (memory.grow $b (local.get 1)))))`));
      const id = await sandbox.createInstance(grown, { resourceLimits: { memory: { maxMemoryBytes: '1MiB' } } });
      // 2 + 10 pages fit the 16 the limit allows; 4 more for the second memory do not.
      assert.equal(await sandbox.callFunction(id, 'grow', [10, 0]), 1 + 1);
      assert.equal(await sandbox.callFunction(id, 'grow', [0, 5]), 11 + -1);
      const tables = await sandbox.loadModule(await wat(`(module ${'(table 100000 funcref) '.repeat(2000)})`));
      for (const config of [{}, UNLIMITED]) {
        const tooMany = await rejection(sandbox.createInstance(tables, config));
        assert.ok(isLimit('table')(tooMany), String(tooMany));
      }
      await alive();
    });

    test('table growth and memory64 growth stop where the limits (or the host) say', async () => {
      const mod = await sandbox.loadModule(fixture('hostile/grow_loops.wasm'));
      const limited = await sandbox.createInstance(mod);
      assert.equal(await sandbox.callFunction(limited, 'table_grow', [10_000]), 100_000);
      // One page is the memory64's own; 63 steps of 64 pages fit the default 256 MiB (4096 pages), a 64th does not.
      assert.equal(await sandbox.callFunction(limited, 'memory64_grow', [64]), 4033n);
      const free = await sandbox.createInstance(mod, UNLIMITED);
      const cap = runtime === 'inprocess' ? 10_000_000 : 1_000_000;
      assert.equal(await sandbox.callFunction(free, 'table_grow', [100_000]), cap);
      await alive();
    });

    test('deep recursion through host calls is a stack overflow, not a dead host', async () => {
      const mod = await sandbox.loadModule(fixture('hostile/host_recursion.wasm'));
      let depth = 0;
      const hostFunctions = {
        env: {
          down: (ctx: HostContext, n: number) => {
            depth = Math.max(depth, n);
            ctx.call('up', n);
          },
        },
      };
      for (const limits of [ResourceLimits.default(), ResourceLimits.unlimited()]) {
        const err = await fails(mod, 'up', [0], { hostFunctions, capabilities: { hostFunctions: ['env.down'] }, resourceLimits: limits }, (e) => e instanceof Trap);
        assert.ok(depth > 10, `recursed ${depth} levels before the stack ran out`);
        assert.ok(err instanceof Trap);
      }
    });

    test('huge data segments: out of bounds at instantiation, or refused as too much memory', async () => {
      const big = 'x'.repeat(2 * 1024 * 1024);
      const outside = await sandbox.loadModule(await wat(`(module (memory 1) (data (i32.const 0) "${big}"))`));
      const err = await rejection(sandbox.createInstance(outside));
      assert.ok(err instanceof Trap && err.kind === 'out-of-bounds', String(err));
      const passive = await sandbox.loadModule(await wat(`(module (memory 1) (data $d "${big}")
        (func (export "init") (memory.init $d (i32.const 0) (i32.const 0) (i32.const 0x200000))))`));
      await fails(passive, 'init', [], {}, (e) => e instanceof Trap && e.kind === 'out-of-bounds');
    });
  });
}

describe('hostile engine guests: the feature policy', () => {
  test('users narrow the set, never widen it; unknown keys are InvalidArguments', async () => {
    await assert.rejects(WasmSandbox.create({ features: { gc: true } }), (e: unknown) => e instanceof InvalidArguments && /gc.*cannot be enabled on the inprocess/.test(e.message));
    await assert.rejects(WasmSandbox.create({ runtime: 'worker', features: { stackSwitching: true } }), InvalidArguments);
    await assert.rejects(WasmSandbox.create({ features: { gcc: false } as never }), (e: unknown) => e instanceof InvalidArguments && /unknown wasm feature 'gcc'/.test(e.message));
    await assert.rejects(WasmSandbox.create({ features: { simd: 'no' } as never }), InvalidArguments);
  });

  test('a narrowed feature is found in any instruction, and refused before compiling', async () => {
    // An i31 loop declares no GC type: only its instructions say it uses GC.
    const body = [0, 0x03, 0x40, 0x41, 1, 0xfb, 0x1c, 0x1a, 0x0c, 0, 0x0b, 0x0b];
    const i31 = core(section(1, [1, 0x60, 0, 0]), section(3, [1, 0]), section(7, [1, ...str('spin'), 0, 0]), section(10, [1, body.length, ...body]));
    const simd = await wat('(module (func (export "f") (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))))');
    const sandbox = await WasmSandbox.create({ runtime: 'worker', features: { gc: false, simd: false } });
    try {
      for (const [bytes, feature] of [[i31, 'gc'], [simd, 'simd']] as const) {
        const err = await rejection(sandbox.loadModule(bytes));
        assert.ok(err instanceof InvalidModule && err.feature === feature, String(err));
        assert.match(err.message, /created without it/);
      }
      assert.ok(await sandbox.loadModule(fixture('wat/add.wasm')));
    } finally {
      await sandbox.close();
    }
  });

  test("a component's core modules get the in-process set: a GC allocation loop is refused", async () => {
    const { parse, componentEmbed, componentNew } = await import('@bytecodealliance/jco-transpile/wasm-tools');
    const core = await parse(`(module (type $node (struct (field (mut (ref null $node)))))
      (memory (export "memory") 1)
      (func (export "run") (result i32) (local $h (ref null $node))
        (loop (local.set $h (struct.new $node (local.get $h))) (br 0)) (i32.const 0)))`);
    const bytes = await componentNew(await componentEmbed({ binary: core, witSource: 'package example:hog;\nworld hog { export run: func() -> u32; }', world: 'hog' }), []);
    const rt = await componentRuntime({}, {}, { cacheDir: false });
    await assert.rejects(
      rt.instantiate(await rt.createComponentModule(bytes)),
      (e: unknown) => e instanceof InvalidModule && e.feature === 'gc' && /core module '.*' of the component/.test(e.message),
    );
  });
});

describe('hostile engine guests: the command line', () => {
  const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const run = (file: string) => spawnSync(process.execPath, [CLI, 'run', '--no-cache', '--timeout', '500ms', fileURLToPath(new URL(`../../fixtures/hostile/${file}`, import.meta.url))], { encoding: 'utf8', timeout: 60_000 });

  test('run --timeout stops a command looping in 256 MiB fills (exit 124)', () => {
    const r = run('bulk_command.wasm');
    assert.equal(r.status, 124, r.stderr);
    assert.match(r.stderr, /timeout: call deadline of 500 ms/);
  });

  test('run refuses a command that waits on a shared memory, naming the feature (exit 126)', () => {
    const r = run('shared_command.wasm');
    assert.equal(r.status, 126, r.stderr);
    assert.match(r.stderr, /wasm feature 'threads'/);
  });
});

