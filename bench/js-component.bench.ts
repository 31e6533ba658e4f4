/**
 * Typed calls into a real JavaScript component (records-js.wasm, StarlingMonkey): our direct path
 * against jco's own bindings (instantiated with preview2-shim, as jco's docs show), and a soak of
 * 100,000 calls that shows whether the per-call cost and the heap stay flat.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ComponentRuntime, ResourceLimits } from '../src/index.ts';
import { camelCase } from '../src/component/wit/interfaces.ts';
import { formatTime, measureInterleaved, report } from './harness.ts';

const RECORDS = readFileSync(new URL('../fixtures/components/records-js.wasm', import.meta.url));
const CACHE = join(tmpdir(), 'wasm-sandbox-bench-cache');
const ITEM = { id: 4n, name: 'Widget', tags: ['widget', 'id-4'], price: 1 };

/** preview2-shim's interfaces as jco's glue asks for them: `wasi:cli/environment` → shim.cli.environment. */
async function shimImports(names: readonly string[]): Promise<Record<string, unknown>> {
  const shim = (await import('@bytecodealliance/preview2-shim')) as unknown as Record<string, Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const m = /^wasi:([a-z]+)\/([a-z-]+)/.exec(name);
    if (m) out[name.replace(/@.*$/, '')] = shim[m[1]]?.[camelCase(m[2])];
  }
  return out;
}

function heapMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1048576;
}

export default async function jsComponentBench(): Promise<void> {
  const rt = await ComponentRuntime.create({ clock: 'real', random: 'crypto' }, ResourceLimits.unlimited(), { cacheDir: CACHE });
  const component = await rt.createComponentModule(RECORDS);
  const cores = new Map<string, WebAssembly.Module>();
  for (const [name, bytes] of component.transpiled.coreModules) cores.set(name, await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>));
  const jco = (await component.transpiled.instantiate((name) => cores.get(name)!, await shimImports(component.transpiled.imports), WebAssembly.instantiate)) as Record<string, Record<string, (...a: unknown[]) => unknown>>;
  const jcoApi = jco['example:records-js/api@0.1.0'];
  const direct = await rt.instantiate(component);
  const viaJco = await rt.instantiate(component, { directCalls: false });
  const describe = 'example:records-js/api#describe';
  const stamp = 'example:records-js/api#stamp';

  // Interleaved round by round: the JS engine inside makes single figures swing on a busy machine.
  const N = 500;
  const [jcoDescribe, ourDescribe, ourViaJco, jcoStamp, ourStamp] = await measureInterleaved([
    { name: 'jco bindings, describe(item)', fn: (n) => { let s; for (let i = 0; i < n; i++) s = jcoApi.describe(ITEM); return s; } },
    { name: 'await instance.call(describe, [item])', fn: async (n) => { let s; for (let i = 0; i < n; i++) s = await direct.call(describe, [ITEM]); return s; } },
    { name: 'await instance.call(describe), directCalls: false', fn: async (n) => { let s; for (let i = 0; i < n; i++) s = await viaJco.call(describe, [ITEM]); return s; } },
    { name: 'jco bindings, stamp() (calls the clock and random)', fn: (n) => { let s; for (let i = 0; i < n; i++) s = jcoApi.stamp(); return s; } },
    { name: 'await instance.call(stamp)', fn: async (n) => { let s; for (let i = 0; i < n; i++) s = await direct.call(stamp, []); return s; } },
  ], { ops: N, rounds: 9 });

  // The soak: 100,000 calls in batches of 10,000, alternating the two functions.
  const batches: { ns: number; heap: number }[] = [];
  const heapBefore = heapMiB();
  for (let b = 0; b < 10; b++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < 5000; i++) {
      await direct.call(describe, [ITEM]);
      await direct.call(stamp, []);
    }
    batches.push({ ns: Number(process.hrtime.bigint() - t) / 10_000, heap: heapMiB() });
  }
  const tables = direct.glueTables();
  rt.close();

  report('Typed calls into a JavaScript component (records-js.wasm, StarlingMonkey)', [
    { what: 'typed call, record in, string out (direct path)', ours: ourDescribe, baseline: jcoDescribe, goal: '≤ 1.5×', meets: (r) => r <= 1.5 },
    { what: 'typed call that calls the host (clock, random)', ours: ourStamp, baseline: jcoStamp, goal: '≤ 1.5×', meets: (r) => r <= 1.5 },
    { what: 'typed call through jco (directCalls: false)', ours: ourViaJco, baseline: jcoDescribe, goal: 'informational', meets: () => true },
  ]);
  const first = batches[0];
  const last = batches[batches.length - 1];
  const flat = last.ns <= first.ns * 1.5;
  console.log(`| soak: 100,000 direct calls (describe + stamp), per call first / last 10,000 | ${formatTime(first.ns)} / ${formatTime(last.ns)} | | ${(last.ns / first.ns).toFixed(2)}× | flat ${flat ? '✓' : '✗'} |`);
  console.log(`| soak: heap before / after 100,000 calls${(globalThis as { gc?: unknown }).gc ? ' (after gc)' : ''}; jco's task and handle tables after | ${heapBefore.toFixed(1)} → ${last.heap.toFixed(1)} MiB; tasks ${tables?.tasks}, handles ${tables?.handles} | | | |`);
}
