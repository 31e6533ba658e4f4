import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  FunctionNotFound, InstanceNotFound, InstanceUnusable, InvalidArguments, ResourceLimitExceeded, SecurityViolation, Timeout, Trap,
} from '../../src/errors.ts';
import { WasmSandbox } from '../../src/sandbox/wasm-sandbox.ts';
import type { HostContext } from '../../src/runtime/host-context.ts';
import { WorkerRuntime } from '../../src/runtime/worker/worker-runtime.ts';
import { wat } from '../helpers/wat.ts';
import { rejection } from '../helpers/rejection.ts';

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fileURLToPath(new URL(`../../fixtures/wat/${name}`, import.meta.url))));
}

describe('worker runtime: calls', () => {
  let sandbox: WasmSandbox;
  let add: string;
  let id: string;
  before(async () => {
    sandbox = await WasmSandbox.create({ runtime: 'worker' });
    add = await sandbox.loadModule(fixture('add.wasm'));
    id = await sandbox.createInstance(add);
  });
  after(() => sandbox.close());

  test('is the worker runtime, with no synchronous handles', () => {
    assert.equal(sandbox.runtimeKind, 'worker');
    assert.equal(sandbox.getFunction(id, 'add').sync, undefined);
  });

  test('i32, i64, f32, f64 and multi-value calls', async () => {
    assert.equal(await sandbox.callFunction(id, 'add', [2, 3]), 5);
    assert.equal(await sandbox.callFunction(id, 'add', [0x7fffffff, 1]), -0x80000000);
    assert.equal(await sandbox.callFunction(id, 'add64', [2n ** 62n, 2n ** 62n]), -(2n ** 63n));
    assert.equal(await sandbox.callFunction(id, 'add64', [5, 6]), 11n);
    assert.equal(await sandbox.callFunction(id, 'addf', [0.1, 0.2]), 0.1 + 0.2);
    assert.equal(await sandbox.callFunction(id, 'mul32f', [1.5, 3]), 4.5);
    assert.ok(Number.isNaN(await sandbox.callFunction(id, 'addf', [NaN, 1])));
    assert.deepEqual(await sandbox.callFunction(id, 'swap', [1, 2]), [2, 1]);
    const add64 = sandbox.getFunction<[bigint, bigint], bigint>(id, 'add64');
    assert.equal(await add64(-1n, 2n ** 64n - 1n), -2n);
  });

  test('concurrent calls on one instance all complete, in order', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => sandbox.callFunction(id, 'add', [i, 1])));
    assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => i + 1));
  });

  test('bad arguments are refused on the main thread, before any round trip', async () => {
    const before = sandbox.getMetrics(id).calls;
    const cases: [string, unknown[], number | undefined][] = [
      ['add', [1], undefined],
      ['add', [1, 2, 3], undefined],
      ['add', ['1', 2], 0],
      ['add', [1.5, 2], 0],
      ['add', [2 ** 32, 2], 0],
      ['add64', [1n, 2 ** 60], 1],
      ['add64', [2n ** 64n, 1n], 0],
      ['addf', [1, 2n], 1],
    ];
    for (const [name, args, parameter] of cases) {
      const err = await rejection(sandbox.callFunction(id, name, args as never));
      assert.ok(err instanceof InvalidArguments, `${name}(${args.map(String).join(', ')}): ${String(err)}`);
      assert.equal(err.parameter, parameter);
    }
    assert.ok((await rejection(sandbox.callFunction(id, 'nope', []))) instanceof FunctionNotFound);
    assert.throws(() => sandbox.getFunction(id, 'nope'), FunctionNotFound);
    assert.equal(sandbox.getMetrics(id).calls, before);
  });

  test('traps come back typed, with their kind, and the instance keeps working', async () => {
    const traps: Trap[] = [];
    sandbox.on('trap', (e) => traps.push(e.error));
    const expect = async (name: string, args: number[], kind: string) => {
      const err = await rejection(sandbox.callFunction(id, name, args));
      assert.ok(err instanceof Trap, `${name}: ${String(err)}`);
      assert.equal(err.code, 'TRAP');
      assert.equal(err.kind, kind);
      return err;
    };
    await expect('div', [1, 0], 'divide-by-zero');
    await expect('div', [-0x80000000, -1], 'integer-overflow');
    const unreachable = await expect('trap', [], 'unreachable');
    assert.ok(unreachable.wasmStack.length > 0);
    await expect('oob', [], 'out-of-bounds');
    assert.equal(await sandbox.callFunction(id, 'add', [1, 1]), 2);
    assert.equal(traps.length, 4);
    assert.equal(traps[2], unreachable, 'the event and the rejection carry the same error object');
    assert.ok(sandbox.getMetrics(id).traps >= 4);
  });

  test('deep recursion is a stack-overflow trap, and the host is fine', async () => {
    const err = await rejection(sandbox.callFunction(id, 'recurse', [0]));
    assert.ok(err instanceof Trap);
    assert.equal(err.kind, 'stack-overflow');
    assert.equal(await sandbox.callFunction(id, 'add', [20, 22]), 42);
  });

  test('a small stack limit still overflows into a trap, not a crash', async () => {
    const small = await sandbox.createInstance(add, { resourceLimits: { stack: { maxStackBytes: '64KiB' } } });
    const err = await rejection(sandbox.callFunction(small, 'recurse', [0]));
    assert.ok(err instanceof Trap && err.kind === 'stack-overflow');
    await sandbox.destroyInstance(small);
  });

  test('memory growth past the limit is refused, and the main thread hears of it', async () => {
    const limits = await sandbox.loadModule(fixture('limits.wasm'));
    const grower = await sandbox.createInstance(limits, { resourceLimits: { memory: { maxMemoryBytes: '1MiB' }, time: { callTimeoutMs: 5000 } } });
    const events: Error[] = [];
    const listener = (e: { error: Error }) => events.push(e.error);
    sandbox.on('limit', listener);
    assert.equal(await sandbox.callFunction(grower, 'grow', [2]), 1);
    assert.equal(await sandbox.callFunction(grower, 'grow', [100]), -1);
    sandbox.off('limit', listener);
    assert.equal(events.length, 1);
    assert.ok(events[0] instanceof ResourceLimitExceeded && events[0].limit === 'memory', String(events[0]));
    assert.equal(sandbox.getMetrics(grower).memoryBytes, 3 * 65536);
  });

  test('metrics are mirrored from the worker', async () => {
    const fresh = await sandbox.createInstance(add);
    for (let i = 0; i < 10; i++) await sandbox.callFunction(fresh, 'add', [i, i]);
    const m = sandbox.getMetrics(fresh);
    assert.equal(m.calls, 10);
    assert.equal(m.memoryBytes, 65536);
    assert.ok(m.peakMemoryBytes >= 65536);
    assert.ok(m.wallTimeMs > 0);
    await sandbox.destroyInstance(fresh);
    assert.throws(() => sandbox.getMetrics(fresh), InstanceNotFound);
  });
});

describe('worker runtime: deadlines', () => {
  let sandbox: WasmSandbox;
  let add: string;
  before(async () => {
    sandbox = await WasmSandbox.create({ runtime: 'worker' });
    add = await sandbox.loadModule(fixture('add.wasm'));
  });
  after(() => sandbox.close());

  test('an infinite loop is stopped at the call deadline; the instance is unusable, the host and other instances are not', async () => {
    const bystander = await sandbox.createInstance(add);
    const looping = await sandbox.createInstance(add, { resourceLimits: { time: { callTimeoutMs: 100 } } });
    const limits: Error[] = [];
    sandbox.on('limit', (e) => limits.push(e.error));
    const start = performance.now();
    const err = await rejection(sandbox.callFunction(looping, 'loop_forever', []));
    const elapsed = performance.now() - start;
    assert.ok(err instanceof Timeout, String(err));
    assert.equal(err.kind, 'call');
    assert.equal(err.timeoutMs, 100);
    assert.ok(elapsed >= 99 && elapsed < 150, `stopped after ${elapsed} ms`);
    assert.deepEqual(limits, [err]);
    const later = await rejection(sandbox.callFunction(looping, 'add', [1, 2]));
    assert.ok(later instanceof InstanceUnusable, String(later));
    assert.equal(await sandbox.callFunction(bystander, 'add', [1, 2]), 3);
    const next = await sandbox.createInstance(add);
    assert.equal(await sandbox.callFunction(next, 'add', [3, 4]), 7);
    await sandbox.destroyInstance(looping);
  });

  test('a start function that never returns is stopped too', async () => {
    const mod = await sandbox.loadModule(fixture('start_loop.wasm'));
    const err = await rejection(sandbox.createInstance(mod, { resourceLimits: { time: { callTimeoutMs: 100 } } }));
    assert.ok(err instanceof Timeout, String(err));
    const ok = await sandbox.createInstance(add);
    assert.equal(await sandbox.callFunction(ok, 'add', [1, 1]), 2);
  });

  test('the instance lifetime ends a running call, and an idle instance', async () => {
    const running = await sandbox.createInstance(add, { resourceLimits: { time: { callTimeoutMs: null, instanceLifetimeMs: 150 } } });
    const err = await rejection(sandbox.callFunction(running, 'loop_forever', []));
    assert.ok(err instanceof Timeout && err.kind === 'instance-lifetime', String(err));

    // Long enough that a loaded machine still makes the first call inside it; the wait runs past it.
    const idle = await sandbox.createInstance(add, { resourceLimits: { time: { instanceLifetimeMs: 3000 } } });
    assert.equal(await sandbox.callFunction(idle, 'add', [1, 1]), 2);
    await new Promise((resolve) => setTimeout(resolve, 3100));
    assert.ok((await rejection(sandbox.callFunction(idle, 'add', [1, 1]))) instanceof InstanceUnusable);
  });

  test('destroying an instance in the middle of a call stops the call', async () => {
    const id = await sandbox.createInstance(add, { resourceLimits: { time: { callTimeoutMs: null } } });
    const call = rejection(sandbox.callFunction(id, 'loop_forever', []));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await sandbox.destroyInstance(id);
    assert.ok((await call) instanceof InstanceUnusable);
  });

  test('tables cannot exhaust the worker heap: their elements are bounded per instance, not per table', async () => {
    const tables = Array.from({ length: 16 }, (_, i) => `(table $t${i} 0 externref)`).join(' ');
    const grows = Array.from({ length: 16 }, (_, i) => `(drop (table.grow $t${i} (ref.null extern) (i32.const 50000)))`).join(' ');
    const sizes = Array.from({ length: 16 }, (_, i) => `(table.size $t${i})`).join(' ') + ' (i32.add)'.repeat(15);
    const hog = await sandbox.loadModule(await wat(`(module ${tables}
      (func (export "hog") (result i32) (local $i i32)
        (loop $l ${grows}
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 4))))
        ${sizes}))`));
    const id = await sandbox.createInstance(hog, { resourceLimits: { memory: { maxMemoryBytes: '32MiB', maxTableElements: null } } });
    // Every table got its first 50,000 elements; no later grow fit its share of the 1,000,000 a thread allows.
    assert.equal(await sandbox.callFunction(id, 'hog', []), 16 * 50000);
    const ok = await sandbox.createInstance(add);
    assert.equal(await sandbox.callFunction(ok, 'add', [2, 2]), 4);
  });
});

describe('worker runtime: host functions', () => {
  let sandbox: WasmSandbox;
  let mod: string;
  const logged: string[] = [];
  let lastError: Error | undefined;
  const hostFunctions = {
    env: {
      log: (ctx: HostContext, ptr: number, len: number) => {
        logged.push(len > 1000 ? `${len} bytes, sum ${ctx.read(ptr, len).reduce((a, b) => a + b, 0)}` : ctx.readString(ptr, len));
      },
      fill: (ctx: HostContext, ptr: number, len: number) => {
        if (len <= 64) return ctx.writeString(ptr, 'written by the host'.slice(0, len));
        ctx.write(ptr, new Uint8Array(len).fill(7));
        return len;
      },
      add64: (_ctx: HostContext, a: bigint, b: bigint) => a + b,
      pair: () => [7, 0.5],
      fail: () => {
        throw (lastError = new Error('host says no'));
      },
      reenter: (ctx: HostContext, x: number) => {
        if (x < 0) {
          ctx.call('spin');
          return 0;
        }
        if (x === 0) {
          ctx.call('greet');
          return 0;
        }
        return (ctx.call('double', x) as number) + 1;
      },
    },
  };
  const capabilities = { hostFunctions: ['env.*'] };
  before(async () => {
    sandbox = await WasmSandbox.create({ runtime: 'worker' });
    mod = await sandbox.loadModule(fixture('worker_host.wasm'));
  });
  after(() => sandbox.close());

  test('a host function reads guest memory', async () => {
    const id = await sandbox.createInstance(mod, { hostFunctions, capabilities });
    await sandbox.callFunction(id, 'greet', []);
    assert.equal(logged.at(-1), 'hello from the guest');
    assert.equal(sandbox.getMetrics(id).hostFunctionCalls, 1);
  });

  test('a host function writes guest memory, in ranges larger than one channel transfer', async () => {
    const id = await sandbox.createInstance(mod, { hostFunctions, capabilities });
    assert.equal(await sandbox.callFunction(id, 'fill', [1000, 10]), 10);
    await sandbox.callFunction(id, 'say', [1000, 10]);
    assert.equal(logged.at(-1), 'written by');
    const big = 200_000;
    assert.equal(await sandbox.callFunction(id, 'fill', [4096, big]), big);
    assert.equal(await sandbox.callFunction(id, 'load8', [4096 + big - 1]), 7);
    await sandbox.callFunction(id, 'say', [4096, big]);
    assert.equal(logged.at(-1), `${big} bytes, sum ${big * 7}`);
  });

  test('guest pointers out of bounds trap instead of touching anything', async () => {
    const id = await sandbox.createInstance(mod, { hostFunctions, capabilities });
    const err = await rejection(sandbox.callFunction(id, 'say', [4 * 65536 - 5, 10]));
    assert.ok(err instanceof Trap && err.kind === 'out-of-bounds', String(err));
    const big = await rejection(sandbox.callFunction(id, 'fill', [4 * 65536 - 100_000, 100_001]));
    assert.ok(big instanceof Trap && big.kind === 'out-of-bounds', String(big));
    assert.equal(await sandbox.callFunction(id, 'load8', [4 * 65536 - 100_000]), 0, 'a refused write leaves memory untouched');
  });

  test('i64 and multi-value results cross both ways', async () => {
    const id = await sandbox.createInstance(mod, { hostFunctions, capabilities });
    assert.equal(await sandbox.callFunction(id, 'sum64', [2n ** 62n, 5n]), 2n ** 62n + 5n);
    assert.deepEqual(await sandbox.callFunction(id, 'pair', []), [7, 0.5]);
  });

  test('a host function error becomes a host-error trap caused by the original error', async () => {
    const id = await sandbox.createInstance(mod, { hostFunctions, capabilities });
    const err = await rejection(sandbox.callFunction(id, 'fail', []));
    assert.ok(err instanceof Trap && err.kind === 'host-error', String(err));
    assert.match(err.message, /host says no/);
    assert.equal(err.cause, lastError);
  });

  test('a sandbox error thrown by a host function comes back as that very error', async () => {
    const violation = new SecurityViolation('network', 'no sockets here');
    const id = await sandbox.createInstance(mod, { hostFunctions: { env: { ...hostFunctions.env, fail: () => { throw violation; } } }, capabilities });
    assert.equal(await rejection(sandbox.callFunction(id, 'fail', [])), violation);
  });

  test('a host function calls back into the guest, which calls the host again', async () => {
    const id = await sandbox.createInstance(mod, { hostFunctions, capabilities });
    assert.equal(await sandbox.callFunction(id, 'outer', [20]), 41);
    await sandbox.callFunction(id, 'outer', [0]);
    assert.equal(logged.at(-1), 'hello from the guest');
  });

  test('a guest spinning under a host function is still stopped at the deadline', async () => {
    const id = await sandbox.createInstance(mod, { hostFunctions, capabilities, resourceLimits: { time: { callTimeoutMs: 100 } } });
    const err = await rejection(sandbox.callFunction(id, 'outer', [-1]));
    assert.ok(err instanceof Timeout, String(err));
  });

  test('the host context only works while a host function runs', async () => {
    let kept: HostContext | undefined;
    const id = await sandbox.createInstance(mod, { hostFunctions: { env: { ...hostFunctions.env, log: (ctx: HostContext) => { kept = ctx; } } }, capabilities });
    await sandbox.callFunction(id, 'greet', []);
    assert.throws(() => kept!.read(0, 5), (err: unknown) => err instanceof Trap && err.kind === 'host-error');
    assert.equal(kept!.memory, undefined);
  });

  test('host functions are linked only where the capabilities allow', async () => {
    const err = await rejection(sandbox.createInstance(mod, { hostFunctions }));
    assert.ok(err instanceof SecurityViolation, String(err));
  });

  test('host functions must return values that can cross threads', async () => {
    const id = await sandbox.createInstance(mod, { hostFunctions: { env: { ...hostFunctions.env, add64: () => ({ not: 'a number' }) } }, capabilities });
    const err = await rejection(sandbox.callFunction(id, 'sum64', [1n, 2n]));
    assert.ok(err instanceof Trap && err.kind === 'host-error', String(err));
  });
});

describe('worker runtime: WASI and fuel', () => {
  let sandbox: WasmSandbox;
  before(async () => {
    sandbox = await WasmSandbox.create({ runtime: 'worker' });
  });
  after(() => sandbox.close());

  test('a WASI command runs, its output is captured and streamed', async () => {
    const mod = await sandbox.loadModule(readFileSync(fileURLToPath(new URL('../../fixtures/wat/wasi_hello.wasm', import.meta.url))));
    const chunks: string[] = [];
    const id = await sandbox.createInstance(mod, {
      // The guest ends with proc_exit(0), which needs the exit grant.
      capabilities: { stdio: { stdout: 'capture' }, exit: true },
      wasi: { onStdout: (chunk) => chunks.push(new TextDecoder().decode(chunk)) },
    });
    assert.equal(await sandbox.runCommand(id), 0);
    assert.equal(new TextDecoder().decode(sandbox.getOutput(id).stdout), 'hello, world\n');
    assert.deepEqual(chunks, ['hello, world\n']);
  });

  test('a streamed stdin reaches the guest as it is produced, then EOF', async () => {
    const cat = await sandbox.loadModule(readFileSync(fileURLToPath(new URL('../../fixtures/wasi/cat.wasm', import.meta.url))));
    const input = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 7) % 251);
    let echoed!: () => void;
    const firstEcho = new Promise<void>((resolve) => (echoed = resolve));
    async function* body(): AsyncGenerator<Uint8Array> {
      // More than cat's 64 KiB read, so it echoes before the source goes on: the rest is only produced
      // once that echo arrives, which a stdin read all up front would never let happen.
      yield input.subarray(0, 100_000);
      await firstEcho;
      yield new Uint8Array(0);
      for (let at = 100_000; at < input.length; at += 300_000) yield input.subarray(at, at + 300_000);
    }
    const out: Uint8Array[] = [];
    const id = await sandbox.createInstance(cat, {
      capabilities: { stdio: { stdin: 'capture', stdout: 'null' } },
      resourceLimits: { time: { callTimeoutMs: 20_000 } },
      wasi: { stdin: body(), onStdout: (chunk) => { out.push(chunk.slice()); echoed(); } },
    });
    assert.equal(await sandbox.runCommand(id), 0);
    assert.deepEqual(Buffer.concat(out), Buffer.from(input));
  });

  test('a guest waiting on a streamed stdin is stopped by the call deadline', async () => {
    const cat = await sandbox.loadModule(readFileSync(fileURLToPath(new URL('../../fixtures/wasi/cat.wasm', import.meta.url))));
    let release!: () => void;
    const never = new Promise<void>((resolve) => (release = resolve));
    async function* body(): AsyncGenerator<Uint8Array> {
      yield new TextEncoder().encode('partial');
      await never;
    }
    const id = await sandbox.createInstance(cat, {
      capabilities: { stdio: { stdin: 'capture', stdout: 'capture' } },
      resourceLimits: { time: { callTimeoutMs: 200 } },
      wasi: { stdin: body() },
    });
    const err = await rejection(sandbox.runCommand(id));
    release();
    assert.ok(err instanceof Timeout, String(err));
  });

  test('the in-process runtime refuses a streamed stdin', async () => {
    const inprocess = await WasmSandbox.create({ runtime: 'inprocess' });
    try {
      const cat = await inprocess.loadModule(readFileSync(fileURLToPath(new URL('../../fixtures/wasi/cat.wasm', import.meta.url))));
      async function* body(): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(1);
      }
      const err = await rejection(inprocess.createInstance(cat, { capabilities: { stdio: { stdin: 'capture' } }, wasi: { stdin: body() } }));
      assert.ok(err instanceof InvalidArguments, String(err));
    } finally {
      await inprocess.close();
    }
  });

  test('fuel runs out, is added, and the instance goes on', async () => {
    const mod = await sandbox.loadModule(fixture('limits.wasm'));
    // The deadline only keeps a metering fault from hanging the test.
    const id = await sandbox.createInstance(mod, { resourceLimits: { cpu: { fuel: 10_000 }, time: { callTimeoutMs: 5000 } } });
    assert.equal(sandbox.getFuel(id), 10_000);
    const err = await rejection(sandbox.callFunction(id, 'spin', [1_000_000]));
    assert.ok(err instanceof ResourceLimitExceeded && err.limit === 'fuel', String(err));
    sandbox.addFuel(id, 100_000_000);
    assert.ok(sandbox.getFuel(id)! > 99_000_000);
    assert.equal(await sandbox.callFunction(id, 'spin', [1000]), 499500);
    assert.ok(sandbox.getMetrics(id).fuelConsumed > 10_000);
  });
});

describe('worker runtime: threads and process lifetime', () => {
  test('threads are reused: a destroyed instance hands its thread to the next one', async () => {
    const sandbox = await WasmSandbox.create({ runtime: 'worker' });
    const add = await sandbox.loadModule(fixture('add.wasm'));
    await sandbox.destroyInstance(await sandbox.createInstance(add));
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const id = await sandbox.createInstance(add);
      times.push(performance.now() - start);
      assert.equal(await sandbox.callFunction(id, 'add', [i, i]), 2 * i);
      await sandbox.destroyInstance(id);
    }
    // A thread start costs tens of milliseconds; a reused thread, well under one.
    assert.ok(Math.min(...times) < 20, `creation times ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
    await sandbox.close();
  });

  // A thread start costs as much CPU as hundreds of short-lived instances: under concurrency, a pool
  // that starts threads per request collapses. Counted, not timed, so that a slow machine cannot hide it.
  for (const [poolSize, concurrency] of [[4, 4], [1, 4]]) {
    test(`concurrent create/destroy cycles start no threads per cycle (pool of ${poolSize}, ${concurrency} at a time)`, async () => {
      let started = 0;
      const count = () => void started++;
      diagnostics.subscribe('worker_threads', count);
      const sandbox = await WasmSandbox.create({ runtime: 'worker', workerPoolSize: poolSize });
      try {
        const add = await sandbox.loadModule(fixture('add.wasm'));
        const cycles = (n: number) => Promise.all(Array.from({ length: concurrency }, async () => {
          for (let i = 0; i < n; i++) {
            const id = await sandbox.createInstance(add);
            assert.equal(await sandbox.callFunction(id, 'add', [i, 1]), i + 1);
            await sandbox.destroyInstance(id);
          }
        }));
        await cycles(5);
        const afterWarmup = started;
        await cycles(150);
        // The pool's threads, one per instance alive at once beyond them, and at most one replacement
        // each for an instance that looked kept on a slow machine: a bound that does not grow with the cycles.
        assert.ok(started <= poolSize + 2 * concurrency, `${started} threads started for ${155 * concurrency} instances`);
        assert.ok(started - afterWarmup <= concurrency, `${started - afterWarmup} threads started during the last ${150 * concurrency} cycles`);
      } finally {
        diagnostics.unsubscribe('worker_threads', count);
        await sandbox.close();
      }
    });
  }

  test('poolSize is validated', () => {
    assert.throws(() => new WorkerRuntime({}, { poolSize: -1 }), InvalidArguments);
    assert.throws(() => new WorkerRuntime({}, { poolSize: 1.5 }), InvalidArguments);
  });

  test('calls in flight when the sandbox closes are rejected', async () => {
    const sandbox = await WasmSandbox.create({ runtime: 'worker' });
    const add = await sandbox.loadModule(fixture('add.wasm'));
    const id = await sandbox.createInstance(add, { resourceLimits: { time: { callTimeoutMs: null } } });
    const call = rejection(sandbox.callFunction(id, 'loop_forever', []));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await sandbox.close();
    assert.ok((await call) instanceof InstanceUnusable);
  });

  for (const closes of [true, false]) {
    test(`a process using the worker runtime exits by itself${closes ? ' after close()' : ' even without close()'}`, () => {
      const sandboxUrl = new URL('../../src/sandbox/wasm-sandbox.ts', import.meta.url).href;
      const script = `
        import { readFileSync } from 'node:fs';
        const { WasmSandbox } = await import(${JSON.stringify(sandboxUrl)});
        // Several rounds: a close() that awaits something the event loop does not wait for shows only sometimes.
        for (let round = 0; round < 3; round++) {
          const sandbox = await WasmSandbox.create({ runtime: 'worker' });
          const mod = await sandbox.loadModule(readFileSync(${JSON.stringify(fileURLToPath(new URL('../../fixtures/wat/add.wasm', import.meta.url)))}));
          const id = await sandbox.createInstance(mod);
          const sum = await sandbox.callFunction(id, 'add', [40, 2]);
          if (round === 0) console.log(sum);
          ${closes ? 'await sandbox.close();' : ''}
        }`;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(child.signal, null, `the process had to be killed; stderr: ${child.stderr}`);
      assert.equal(child.status, 0, child.stderr);
      assert.equal(child.stdout.trim(), '42');
    });
  }
});
