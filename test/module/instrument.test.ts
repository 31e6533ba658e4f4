import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WASI } from 'node:wasi';
import { FUEL_EXPORT, instrument, METER_COST_MODEL, type InstrumentOptions } from '../../src/module/instrument.ts';
import { inspect } from '../../src/module/inspect.ts';
import { InvalidModule, ResourceLimitExceeded, SecurityViolation } from '../../src/errors.ts';
import { wat } from '../helpers/wat.ts';
import { section, str } from '../helpers/binary.ts';
import { bigCProgram } from '../helpers/c-program.ts';

type Exports = Record<string, any>;

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fileURLToPath(new URL(`../../fixtures/wat/${name}`, import.meta.url))));
}

class OutOfFuel extends Error {}

/** The host side of the instrumentation contract, with everything it sees recorded. */
class SandboxHost {
  outOfFuelCalls = 0;
  growCalls: [number, number, number][] = [];
  allowGrow = true;
  /** Value the counter is reset to on out_of_fuel; null makes out_of_fuel throw. */
  refill: bigint | null;
  fuel: WebAssembly.Global | undefined;
  readonly imports = {
    out_of_fuel: (): void => {
      this.outOfFuelCalls++;
      if (this.refill === null || this.fuel === undefined) throw new OutOfFuel('out of fuel');
      this.fuel.value = this.refill;
    },
    memory_grow: (memidx: number, delta: number, current: number): number => {
      this.growCalls.push([memidx, delta, current]);
      return this.allowGrow ? 1 : 0;
    },
  };
  constructor(refill: bigint | null = 1n << 50n) {
    this.refill = refill;
  }
}

async function instantiate(bytes: Uint8Array, host: SandboxHost, imports: WebAssembly.Imports = {}): Promise<Exports> {
  const { instance } = (await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, { ...imports, wasm_sandbox: host.imports })) as unknown as WebAssembly.WebAssemblyInstantiatedSource;
  host.fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global | undefined;
  return instance.exports as Exports;
}

const ALL: InstrumentOptions = { meter: true, routeMemoryGrow: true };

function instrumented(bytes: Uint8Array, opts: InstrumentOptions = ALL): Uint8Array {
  const out = instrument(bytes, opts).bytes;
  assert.ok(WebAssembly.validate(out as Uint8Array<ArrayBuffer>), 'instrumented module must validate');
  return out;
}

/** Calls f, returning its result or a description of what it threw, so original and instrumented runs compare. */
function outcome(f: () => unknown): unknown {
  try {
    return { value: f() };
  } catch (e) {
    return { threw: (e as Error).constructor.name, message: (e as Error).message };
  }
}

const KERNELS_WAT = fileURLToPath(new URL('../../fixtures/wat/kernels.wat', import.meta.url));
const kernels = (): Uint8Array => fixture('kernels.wasm');

/** Every kernel call the equivalence tests compare. */
const KERNEL_CALLS: [string, unknown[]][] = [
  ['started', []],
  ['apply', [0, 5, 3]],
  ['apply', [1, 5, 3]],
  ['apply', [2, 5, 3]],
  ['apply', [3, 5, 3]],
  ['apply_ref', [5, 3]],
  ['apply_global', [5, 3]],
  ['fact', [20n]],
  ['fact_tail', [20n]],
  ['fact_tail', [100000n]],
  ['checksum', [1000, 7]],
  ['classify', [0]],
  ['classify', [1]],
  ['classify', [2]],
  ['classify', [9]],
  ['first_over', [50]],
  ['leave_by_br', [5]],
  ['sum_to', [10]],
  ['fib_iter', [20]],
  ['catch_loop', [10]],
  ['catch_loop', [3]],
  ['legacy_catch', [10]],
  ['probe_loop', [10]],
];

function probeImports(seen: bigint[], host: SandboxHost): WebAssembly.Imports {
  return {
    host: {
      probe: (x: number) => {
        if (host.fuel) seen.push(host.fuel.value as bigint);
        return x * 2;
      },
    },
  };
}

describe('instrument: behaviour is preserved', () => {
  test('add.wasm: every export matches the original, traps included', async () => {
    const original = fixture('add.wasm');
    const a = await instantiate(original, new SandboxHost());
    const b = await instantiate(instrumented(original), new SandboxHost());
    const calls: [string, unknown[]][] = [
      ['add', [2, 3]],
      ['add', [0x7fffffff, 1]],
      ['add64', [2n ** 40n, 5n]],
      ['addf', [0.1, 0.2]],
      ['mul32f', [1.5, 3.25]],
      ['swap', [1, 2]],
      ['div', [7, 2]],
      ['div', [1, 0]],
      ['div', [-0x80000000, -1]],
      ['trap', []],
      ['recurse', [0]],
      ['oob', []],
    ];
    for (const [name, args] of calls) {
      assert.deepEqual(outcome(() => b[name](...args)), outcome(() => a[name](...args)), `${name}(${args.join(', ')})`);
    }
    assert.equal((b.counter as WebAssembly.Global).value, 42);
    assert.ok(b.memory instanceof WebAssembly.Memory);
    assert.ok(b.table instanceof WebAssembly.Table);
    assert.equal((b.table as WebAssembly.Table).get(0)!(20, 22), 42, 'table elements still point at the right functions');
  });

  test('kernels: call_indirect, ref.func, start, recursion, tail calls, loops, exceptions', async () => {
    const original = kernels();
    const out = instrumented(original);
    for (const refill of [1n << 50n, 40n]) {
      const hostA = new SandboxHost();
      const hostB = new SandboxHost(refill);
      const a = await instantiate(original, hostA, probeImports([], hostA));
      const seen: bigint[] = [];
      const b = await instantiate(instrument(original, { ...ALL, initialFuel: 1000n }).bytes, hostB, probeImports(seen, hostB));
      for (const [name, args] of KERNEL_CALLS) {
        assert.deepEqual(outcome(() => b[name](...args)), outcome(() => a[name](...args)), `${name}(${args.join(', ')}) with refill ${refill}`);
      }
      if (refill === 40n) assert.ok(hostB.outOfFuelCalls > 100, `small refills must exercise the slow paths (${hostB.outOfFuelCalls} calls)`);
    }
    assert.ok(out.length > original.length);
  });

  test('the host sees the exact counter during imported calls', async () => {
    const host = new SandboxHost();
    const seen: bigint[] = [];
    const b = await instantiate(instrument(kernels(), { ...ALL, initialFuel: 1000n }).bytes, host, probeImports(seen, host));
    host.fuel!.value = 1_000_000n;
    b.probe_loop(10);
    assert.equal(seen.length, 2);
    // Between the two probes only the loop runs: 10 iterations of a 6-instruction region.
    assert.equal(seen[0] - seen[1], 60n);
  });

  test('the start function runs on initialFuel', async () => {
    const host = new SandboxHost();
    const b = await instantiate(instrument(kernels(), { ...ALL, initialFuel: 1000n }).bytes, host, probeImports([], host));
    assert.equal(b.started(), 1);
    assert.equal(host.outOfFuelCalls, 0);
    await assert.rejects(instantiate(instrument(kernels(), ALL).bytes, new SandboxHost(), probeImports([], host)), OutOfFuel);
  });

  test('every instruction family decodes: SIMD, atomics, bulk memory, multi-memory, memory64', async () => {
    const original = fixture('opcodes.wasm');
    const a = await instantiate(original, new SandboxHost());
    const host = new SandboxHost(10n);
    const b = await instantiate(instrumented(original), host);
    assert.equal(a.zoo(3), 138);
    assert.equal(b.zoo(3), 138);
    assert.deepEqual(host.growCalls, [[1, 1, 1]]);
  });

  test('GC: branches out of a loop via br_on_null and br_on_cast are renumbered', async () => {
    const types = section(1, [2, 0x5f, 1, 0x7f, 0x01, 0x60, 0, 1, 0x7f]);
    const funcs = section(3, [2, 1, 1]);
    const exports = section(7, [2, ...str('null_cross'), 0x00, 0, ...str('cast_cross'), 0x00, 1]);
    const nullCross = [
      0x00,
      0x02, 0x7f, // block (result i32)
      0x03, 0x40, // loop
      0x41, 42, 0xd0, 0x00, // i32.const 42; ref.null 0
      0xd5, 0x01, // br_on_null 1 (the block, beyond the loop)
      0x1a, 0x1a, 0x0c, 0x00, // drop; drop; br 0
      0x0b, 0x00, 0x0b, 0x0b,
    ];
    const castCross = [
      0x00,
      0x02, 0x64, 0x00, // block (result (ref 0))
      0x03, 0x40, // loop
      0x41, 9, 0xfb, 0x00, 0x00, // i32.const 9; struct.new 0
      0xfb, 0x18, 0x00, 0x01, 0x00, 0x00, // br_on_cast flags=0 label=1 (ref 0) (ref 0)
      0x1a, 0x0c, 0x00, // drop; br 0
      0x0b, 0x00, 0x0b,
      0xfb, 0x02, 0x00, 0x00, // struct.get 0 0
      0x0b,
    ];
    const code = section(10, [2, nullCross.length, ...nullCross, castCross.length, ...castCross]);
    const original = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...types, ...funcs, ...exports, ...code]);
    assert.ok(WebAssembly.validate(original));
    const host = new SandboxHost(3n);
    const b = await instantiate(instrumented(original), host);
    assert.equal(b.null_cross(), 42);
    assert.equal(b.cast_cross(), 9);
  });

  test('memory64 grow is routed like a 32-bit one; a delta past 2^32 pages fails without asking', async () => {
    const original = await wat('(module (memory (export "m") i64 1) (func (export "g") (param i64) (result i64) (memory.grow (local.get 0))))');
    const host = new SandboxHost();
    const b = await instantiate(instrumented(original), host);
    assert.equal(b.g(2n), 1n);
    assert.deepEqual(host.growCalls, [[0, 2, 1]]);
    assert.equal(b.g(1n << 33n), -1n);
    assert.equal(host.growCalls.length, 1);
    host.allowGrow = false;
    assert.equal(b.g(1n), -1n);
    assert.equal((b.m as WebAssembly.Memory).buffer.byteLength, 3 * 65536);
  });

  test('no options: the bytes come back unchanged', () => {
    const original = fixture('add.wasm');
    const result = instrument(original, { meter: false, routeMemoryGrow: false });
    assert.deepEqual(result.bytes, original);
    assert.equal(result.meterCostModel, 'none');
    assert.equal(instrument(original, ALL).meterCostModel, METER_COST_MODEL);
  });

  test('modules lacking the sections instrumentation extends get them synthesized', async () => {
    for (const source of ['(module)', '(module (memory 1))', '(module (func (export "f") (loop (br_if 0 (i32.const 0)))))']) {
      const host = new SandboxHost();
      const exports = await instantiate(instrumented(await wat(source)), host);
      assert.ok(exports[FUEL_EXPORT] instanceof WebAssembly.Global, source);
    }
  });

  test('the name section is rewritten when indices shift (test/module/frame-map.test.ts checks its contents); other custom sections stay', async () => {
    const named = await wat(readFileSync(KERNELS_WAT, 'utf8'), { names: true });
    const withCustom = new Uint8Array([...named, ...section(0, [...str('keep.me'), 1, 2, 3])]);
    assert.deepEqual(inspect(withCustom).customSections, ['name', 'keep.me']);
    assert.deepEqual(inspect(instrumented(withCustom)).customSections, ['name', 'keep.me']);
    assert.deepEqual(inspect(instrument(withCustom, { meter: false, routeMemoryGrow: false, memoryMaxPages: 8 }).bytes).customSections, ['name', 'keep.me']);
  });
});

describe('instrument: fuel', () => {
  const SPIN = `(module
    (func (export "spin") (param $n i32)
      (loop $l (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
    (func (export "nested") (param $n i32) (local $i i32)
      (block (nop) (nop))
      (loop $outer
        (local.set $i (i32.const 2))
        (loop $inner
          (br_if $inner (local.tee $i (i32.sub (local.get $i) (i32.const 1)))))
        (br_if $outer (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`;

  test('costs follow the documented model exactly', async () => {
    const host = new SandboxHost();
    const b = await instantiate(instrumented(await wat(SPIN)), host);
    host.fuel!.value = 1000n;
    b.spin(10); // function region 2 (loop, end) + 10 iterations x 6 (get, const, sub, tee, br_if, end)
    assert.equal(host.fuel!.value, 1000n - 62n);
    host.fuel!.value = 1000n;
    b.nested(3); // 6 + 3 x (9 + 2 x 6)
    assert.equal(host.fuel!.value, 1000n - 69n);
    assert.equal(host.outOfFuelCalls, 0);
  });

  test('out_of_fuel is called a deterministic number of times for a budget', async () => {
    // Model the counter exactly as the cost model says and compare.
    const simulate = (start: bigint, refill: bigint, n: number): { calls: number; left: bigint } => {
      let fuel = start;
      let calls = 0;
      const charge = (c: bigint): void => {
        fuel -= c;
        if (fuel < 0n) {
          calls++;
          fuel = refill;
        }
      };
      charge(2n);
      for (let i = 0; i < n; i++) charge(6n);
      return { calls, left: fuel };
    };
    for (const [start, refill, n] of [
      [0n, 100n, 1000],
      [5n, 7n, 333],
      [1000n, 1000n, 50_000],
    ] as const) {
      const runs: number[] = [];
      for (let run = 0; run < 2; run++) {
        const host = new SandboxHost(refill);
        const b = await instantiate(instrumented(await wat(SPIN)), host);
        host.fuel!.value = start;
        b.spin(n);
        const expected = simulate(start, refill, n);
        assert.equal(host.outOfFuelCalls, expected.calls, `start ${start} refill ${refill} n ${n}`);
        assert.equal(host.fuel!.value, expected.left);
        runs.push(host.outOfFuelCalls);
      }
      assert.equal(runs[0], runs[1]);
    }
  });

  test('a host that returns without refilling is called at every check and the guest goes on', async () => {
    // As during a start function, when the export cannot be reached yet.
    const host = new SandboxHost();
    host.imports.out_of_fuel = () => {
      host.outOfFuelCalls++;
    };
    const start = await wat(`(module
      (global $done (export "done") (mut i32) (i32.const 0))
      (func $s (local $i i32)
        (loop (br_if 0 (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 5))))
        (global.set $done (local.get $i)))
      (start $s))`);
    const b = await instantiate(instrumented(start), host);
    assert.equal((b.done as WebAssembly.Global).value, 5);
    assert.equal(host.outOfFuelCalls, 6, 'function entry plus five iterations');
    host.outOfFuelCalls = 0;
    const spin = await instantiate(instrumented(await wat(SPIN)), host);
    spin.spin(10);
    assert.equal(host.outOfFuelCalls, 11);
    assert.equal(host.fuel!.value, 0n);
  });

  test('a host that throws stops an infinite loop', async () => {
    const host = new SandboxHost(null);
    const b = await instantiate(instrumented(fixture('add.wasm')), host);
    host.fuel!.value = 100_000n;
    assert.throws(() => b.loop_forever(), OutOfFuel);
    assert.equal(host.outOfFuelCalls, 1);
  });

  test('the same budget gives the same number of calls on a real workload', async () => {
    const counts: number[] = [];
    for (let i = 0; i < 2; i++) {
      const host = new SandboxHost(500n);
      const b = await instantiate(instrument(kernels(), { ...ALL, initialFuel: 1000n }).bytes, host, probeImports([], host));
      b.checksum(2000, 3);
      b.fact_tail(1000n);
      counts.push(host.outOfFuelCalls);
    }
    assert.ok(counts[0] > 10);
    assert.equal(counts[0], counts[1]);
  });
});

describe('instrument: memory growth and limits', () => {
  test('the grow hook sees (memidx, delta, current) and can refuse', async () => {
    const host = new SandboxHost();
    const b = await instantiate(instrumented(fixture('grow.wasm')), host);
    assert.equal(b.grow(2), 1);
    assert.equal(b.size(), 3);
    host.allowGrow = false;
    assert.equal(b.grow(1), -1);
    assert.equal(b.size(), 3);
    assert.deepEqual(host.growCalls, [
      [0, 2, 1],
      [0, 1, 3],
    ]);
    b.fill_pages(3);
  });

  test('a host that throws from memory_grow traps the guest', async () => {
    const host = new SandboxHost();
    host.imports.memory_grow = () => {
      throw new Error('growth rate exceeded');
    };
    const b = await instantiate(instrumented(fixture('grow.wasm')), host);
    assert.throws(() => b.grow(1), /growth rate exceeded/);
  });

  test('multi-memory: each memory gets its own wrapper', async () => {
    const original = await wat(`(module
      (memory $a 1) (memory $b 2)
      (func (export "grow_a") (param i32) (result i32) (memory.grow $a (local.get 0)))
      (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0))))`);
    const host = new SandboxHost();
    const b = await instantiate(instrumented(original), host);
    assert.equal(b.grow_b(3), 2);
    assert.equal(b.grow_a(1), 1);
    assert.deepEqual(host.growCalls, [
      [1, 3, 2],
      [0, 1, 1],
    ]);
  });

  test('clamped maximums show up in inspect() and bind the guest', async () => {
    const out = instrumented(fixture('grow.wasm'), { ...ALL, memoryMaxPages: 4 });
    assert.deepEqual(inspect(out).memories, [{ min: 1, max: 4, shared: false, memory64: false, imported: false }]);
    const b = await instantiate(out, new SandboxHost());
    assert.equal(b.grow(3), 1);
    assert.equal(b.grow(1), -1);
    // An existing smaller maximum is kept; a table gains one.
    const add = instrument(fixture('add.wasm'), { meter: false, routeMemoryGrow: false, memoryMaxPages: 100, tableMaxElements: 5 }).bytes;
    assert.equal(inspect(add).memories[0].max, 16);
    assert.equal(inspect(add).tables[0].max, 5);
    // Imported memories are the host's to size.
    assert.equal(inspect(instrument(fixture('imports.wasm'), { ...ALL, memoryMaxPages: 1 }).bytes).memories[0].max, null);
  });

  test('an initial size over the limit is refused', () => {
    assert.throws(
      () => instrument(fixture('big_initial.wasm'), { ...ALL, memoryMaxPages: 16384 }),
      (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'memory' && e.max === 16384 * 65536 && e.observed === 65536 * 65536,
    );
    assert.throws(
      () => instrument(fixture('add.wasm'), { ...ALL, tableMaxElements: 1 }),
      (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'table' && e.max === 1 && e.observed === 2,
    );
    // The limit itself is allowed.
    assert.equal(inspect(instrument(fixture('big_initial.wasm'), { ...ALL, memoryMaxPages: 65536 }).bytes).memories[0].max, 65536);
  });
});

describe('instrument: bulk operations and per-instance table totals', () => {
  /** Fuel the guest spends on one call of `name`, read from the counter the host refills. */
  function spent(b: Exports, host: SandboxHost, run: () => void): bigint {
    host.fuel!.value = 1n << 40n;
    run();
    return (1n << 40n) - (host.fuel!.value as bigint);
  }

  test('memory and table bulk instructions and grows cost fuel in proportion to their size', async () => {
    const original = await wat(`(module
      (memory 2) (table 8 funcref) (elem declare func $f) (func $f)
      (data $d "0123456789abcdef0123456789abcdef")
      (func (export "fill") (param i32) (memory.fill (i32.const 0) (i32.const 7) (local.get 0)))
      (func (export "copy") (param i32) (memory.copy (i32.const 0) (i32.const 64) (local.get 0)))
      (func (export "init") (param i32) (memory.init $d (i32.const 0) (i32.const 0) (local.get 0)))
      (func (export "tfill") (param i32) (table.fill (i32.const 0) (ref.func $f) (local.get 0)))
      (func (export "tgrow") (param i32) (drop (table.grow (ref.null func) (local.get 0))))
      (func (export "mgrow") (param i32) (drop (memory.grow (local.get 0)))))`);
    const host = new SandboxHost();
    const b = await instantiate(instrumented(original), host);
    const base = spent(b, host, () => b.fill(0));
    assert.equal(spent(b, host, () => b.fill(65536)) - base, 4096n);
    assert.equal(spent(b, host, () => b.copy(1600)) - base, 100n);
    assert.equal(spent(b, host, () => b.init(32)) - base, 2n);
    assert.equal(spent(b, host, () => b.tfill(8)) - spent(b, host, () => b.tfill(0)), 8n);
    assert.equal(spent(b, host, () => b.tgrow(1000)) - spent(b, host, () => b.tgrow(0)), 1000n);
    assert.equal(spent(b, host, () => b.mgrow(3)) - spent(b, host, () => b.mgrow(0)), 3n);
  });

  test('a bulk instruction larger than the fuel left stops at the checkpoint before it runs', async () => {
    const original = await wat('(module (memory (export "m") 1) (func (export "fill") (param i32) (memory.fill (i32.const 0) (i32.const 9) (local.get 0))))');
    const host = new SandboxHost(null);
    const b = await instantiate(instrument(original, { ...ALL, initialFuel: 100n }).bytes, host);
    assert.throws(() => b.fill(65536), OutOfFuel);
    assert.equal(new Uint8Array((b.m as WebAssembly.Memory).buffer)[0], 0, 'the fill did not run');
    assert.equal(host.outOfFuelCalls, 1);
  });

  test('a 64-bit memory fill is charged too, and a huge length cannot wrap the counter', async () => {
    const original = await wat('(module (memory i64 1) (func (export "fill") (param i64) (memory.fill (i64.const 0) (i32.const 1) (local.get 0))))');
    const host = new SandboxHost(null);
    const b = await instantiate(instrument(original, { ...ALL, initialFuel: 1n << 40n }).bytes, host);
    assert.throws(() => b.fill(-1n), OutOfFuel);
  });

  test('tableMaxElements bounds the tables of a module together', async () => {
    const three = await wat('(module (table 10 funcref) (table 10 funcref) (table 10 funcref))');
    const out = instrument(three, { meter: false, routeMemoryGrow: false, tableMaxElements: 40 }).bytes;
    assert.deepEqual(inspect(out).tables.map((t) => t.max), [13, 13, 13]);
    assert.throws(
      () => instrument(three, { meter: false, routeMemoryGrow: false, tableMaxElements: 25 }),
      (e: unknown) => e instanceof ResourceLimitExceeded && e.limit === 'table' && e.max === 25 && e.observed === 30,
    );
  });
});

describe('instrument: refusals', () => {
  test("an invalid module is refused, even one the sandbox's own additions would make valid", () => {
    // `global.set 0` with no globals: after metering, global 0 would be the fuel counter.
    const types = section(1, [1, 0x60, 0, 0]);
    const funcs = section(3, [1, 0]);
    const body = [0, 0x42, 0x05, 0x24, 0x00, 0x0b];
    const code = section(10, [1, body.length, ...body]);
    const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...types, ...funcs, ...code]);
    assert.equal(WebAssembly.validate(bytes), false);
    assert.throws(() => instrument(bytes, ALL), (e: unknown) => e instanceof InvalidModule && /only valid modules/.test(e.message));
    assert.throws(() => instrument(bytes, { meter: false, routeMemoryGrow: false }), InvalidModule);
  });

  test('a guest importing from the reserved module is rejected', async () => {
    const bytes = await wat('(module (import "wasm_sandbox" "out_of_fuel" (func)))');
    assert.throws(() => instrument(bytes, { meter: false, routeMemoryGrow: false }), SecurityViolation);
  });

  test('a guest exporting the fuel name is rejected when metering', async () => {
    const bytes = await wat(`(module (global (export "${FUEL_EXPORT}") i32 (i32.const 0)))`);
    assert.throws(() => instrument(bytes, ALL), InvalidModule);
    assert.doesNotThrow(() => instrument(bytes, { meter: false, routeMemoryGrow: true }));
  });

  test('components and garbage are InvalidModule', () => {
    assert.throws(() => instrument(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), ALL), InvalidModule);
    assert.throws(() => instrument(new TextEncoder().encode('(module)'), ALL), InvalidModule);
  });
});

describe('instrument: a real C program', () => {
  test('a >1 MiB wasm32-wasi program round-trips with identical output', async (t) => {
    const original = bigCProgram();
    if (original === null) {
      t.skip('clang with a wasm32-wasi sysroot is not installed');
      return;
    }
    assert.ok(original.length > 1024 * 1024, `program is ${original.length} bytes`);
    const out = instrumented(original, { ...ALL, memoryMaxPages: 2048 });

    const dir = mkdtempSync(join(tmpdir(), 'wasm-sandbox-instrument-'));
    try {
      const run = async (bytes: Uint8Array, host: SandboxHost): Promise<{ code: number; stdout: string }> => {
        const path = join(dir, `out-${Math.random()}`);
        const fd = openSync(path, 'w');
        try {
          const wasi = new WASI({ version: 'preview1', args: ['prog', '3'], env: {}, stdout: fd, returnOnExit: true });
          const { instance } = (await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, {
            wasi_snapshot_preview1: wasi.wasiImport,
            wasm_sandbox: host.imports,
          })) as unknown as WebAssembly.WebAssemblyInstantiatedSource;
          host.fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global | undefined;
          const code = wasi.start(instance);
          return { code, stdout: readFileSync(path, 'utf8') };
        } finally {
          closeSync(fd);
        }
      };
      const expected = await run(original, new SandboxHost());
      assert.equal(expected.code, 0);
      assert.match(expected.stdout, /^checksum \d+\n$/);
      const host = new SandboxHost(100_000n);
      assert.deepEqual(await run(out, host), expected);
      assert.ok(host.outOfFuelCalls > 0, 'fuel ran out and was refilled');
      assert.ok(host.growCalls.length > 0, 'malloc grew memory through the hook');
      assert.ok(host.growCalls.every(([m, delta, current]) => m === 0 && delta > 0 && current > 0));
      const again = new SandboxHost(100_000n);
      await run(out, again);
      assert.equal(again.outOfFuelCalls, host.outOfFuelCalls, 'deterministic fuel use');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
