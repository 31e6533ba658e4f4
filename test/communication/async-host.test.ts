import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AsyncRequired, SecurityViolation, Timeout, Trap, WasmSandbox, asyncHostFunction, type HostContext, type InstanceConfig,
} from '../../src/index.ts';
import { RUNTIMES, fixture, withInstance } from './helpers.ts';
import { wat } from '../helpers/wat.ts';

const GUEST = 'wat/async_host.wasm';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function config(fetch: (ctx: HostContext, n: number) => unknown, extra: Partial<InstanceConfig> = {}): InstanceConfig {
  return {
    capabilities: { hostFunctions: ['env.*'] },
    hostFunctions: { env: { fetch, note: (ctx: HostContext, n: number) => ctx.call('run', n) as number } },
    ...extra,
  };
}

for (const runtime of RUNTIMES) {
  describe(`async host functions (${runtime})`, () => {
    test('the guest waits for the promise; the host thread stays free meanwhile', async () => {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      try {
        await withInstance(runtime, GUEST, async (s, id) => {
          assert.equal(await s.callFunction(id, 'run', [4]), 41);
          assert.equal(await s.callFunction(id, 'twice', [1]), 30, 'two suspensions in one call');
          assert.equal(await s.callFunction(id, 'pure', [4]), 8);
          assert.equal(await s.callFunctionJson(id, 'fetch_echo', '{"x":1}'), '{"x":1}', 'a data function may suspend too');
        }, config(async (_ctx, n) => {
          await sleep(20);
          return n * 10;
        }));
      } finally {
        clearInterval(timer);
      }
      assert.ok(ticks > 5, `the event loop ran during the calls (${ticks} ticks)`);
    });

    test('concurrent calls into one instance run one after another', async () => {
      const order: string[] = [];
      await withInstance(runtime, GUEST, async (s, id) => {
        const results = await Promise.all([1, 2, 3].map((n) => s.callFunction(id, 'run', [n])));
        assert.deepEqual(results, [11, 21, 31]);
        assert.deepEqual(order, ['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
      }, config(async (_ctx, n) => {
        order.push(`start ${n}`);
        await sleep(5);
        order.push(`end ${n}`);
        return n * 10;
      }));
    });

    test('the host context reads and writes guest memory after an await', async () => {
      await withInstance(runtime, GUEST, async (s, id) => {
        assert.equal(await s.callFunction(id, 'run', [100]), 8);
        assert.equal((await s.readMemory(id, 100, 3)).join(), '7,8,9');
      }, config(async (ctx, ptr) => {
        await sleep(1);
        ctx.write(ptr, Uint8Array.of(7, 8, 9));
        return ctx.read(ptr, 2)[1] - 1;
      }));
    });

    test('a rejection reaches the caller; a typed error keeps its class', async () => {
      await withInstance(runtime, GUEST, async (s, id) => {
        const err = await s.callFunction(id, 'run', [1]).catch((e: unknown) => e);
        assert.ok(err instanceof Trap);
        assert.equal(err.kind, 'host-error');
        assert.match(err.message, /remote said no/);
        const typed = await s.callFunction(id, 'run', [2]).catch((e: unknown) => e);
        assert.ok(typed instanceof SecurityViolation);
        assert.equal(await s.callFunction(id, 'pure', [1]), 2, 'still usable');
      }, config(async (_ctx, n) => {
        await sleep(1);
        if (n === 1) throw new Error('remote said no');
        throw new SecurityViolation('network', 'not today');
      }));
    });

    test('the call deadline covers the time spent waiting', async () => {
      await withInstance(runtime, GUEST, async (s, id) => {
        const started = performance.now();
        const err = await s.callFunction(id, 'run', [1]).catch((e: unknown) => e);
        assert.ok(err instanceof Timeout, String(err));
        assert.ok(performance.now() - started < 2000);
      }, config(async () => new Promise(() => {}), { resourceLimits: { time: { callTimeoutMs: 100 } } }));
    });

    test('an async host function is still subject to the capability allow-list', async () => {
      const s = await WasmSandbox.create({ runtime, workerPoolSize: 0 });
      try {
        const m = await s.loadModule(fixture(GUEST));
        const err = await s.createInstance(m, { ...config(async () => 1), capabilities: { hostFunctions: ['env.note'] } }).catch((e: unknown) => e);
        assert.ok(err instanceof SecurityViolation);
        assert.match(err.message, /env\.fetch/);
      } finally {
        await s.close();
      }
    });
  });
}

describe('async host functions in-process (JSPI)', () => {
  test('the synchronous fast path refuses with AsyncRequired, and nothing runs', async () => {
    let calls = 0;
    await withInstance('inprocess', GUEST, async (s, id) => {
      const run = s.getFunction<[number], number>(id, 'run');
      assert.throws(() => run.sync!(1), AsyncRequired);
      assert.throws(() => s.getFunction<[number], number>(id, 'pure').sync!(1), AsyncRequired);
      assert.equal(calls, 0);
      assert.equal(await run(1), 11);
    }, config(async (_ctx, n) => {
      calls++;
      return n * 10;
    }));
  });

  test('a host function calling back into an export that suspends gets AsyncRequired', async () => {
    await withInstance('inprocess', GUEST, async (s, id) => {
      const err = await s.callFunction(id, 'noted', [3]).catch((e: unknown) => e);
      assert.ok(err instanceof AsyncRequired, String(err));
      assert.equal(await s.callFunction(id, 'run', [3]), 31);
    }, config(async (_ctx, n) => n * 10));
  });

  test('asyncHostFunction marks a function that returns a promise without being declared async', async () => {
    await withInstance('inprocess', GUEST, async (s, id) => {
      assert.equal(await s.callFunction(id, 'run', [5]), 51);
    }, config(asyncHostFunction((_ctx: HostContext, n: number) => sleep(1).then(() => n * 10))));
  });

  test('an undeclared host function returning a promise is a clear Trap, not a silent 0', async () => {
    await withInstance('inprocess', GUEST, async (s, id) => {
      const err = await s.callFunction(id, 'run', [5]).catch((e: unknown) => e);
      assert.ok(err instanceof Trap);
      assert.match(err.message, /returned a promise but is linked as synchronous/);
    }, config((_ctx, n) => Promise.resolve(n)));
  });

  test('sync-only instances keep their synchronous handles', async () => {
    const s = await WasmSandbox.create();
    try {
      const bytes = await wat(`(module (import "env" "f" (func $f (param i32) (result i32)))
        (func (export "g") (param i32) (result i32) (call $f (local.get 0))))`);
      const id = await s.createInstance(await s.loadModule(bytes), { capabilities: { hostFunctions: ['env.f'] }, hostFunctions: { env: { f: (_c: HostContext, x: number) => x + 1 } } });
      assert.equal(s.getFunction<[number], number>(id, 'g').sync!(1), 2);
    } finally {
      await s.close();
    }
  });
});

describe('async host functions on the worker runtime', () => {
  test('a promise-returning function needs no marking there; a nested async call is refused cleanly', async () => {
    await withInstance('worker', GUEST, async (s, id) => {
      assert.equal(await s.callFunction(id, 'run', [2]), 3);
      const err = await s.callFunction(id, 'noted', [3]).catch((e: unknown) => e);
      assert.ok(err instanceof Trap, String(err));
      assert.match(err.message, /async host function was called while another host function was using the host context synchronously/);
    }, config((_ctx, n) => Promise.resolve(n)));
  });
});
