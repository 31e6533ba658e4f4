import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ComponentRuntime, ResourceLimits } from '../src/index.ts';
import { TranspileCache } from '../src/component/transpile-cache.ts';
import { measure, report } from './harness.ts';

const GREETER = readFileSync(new URL('../fixtures/components/greeter.wasm', import.meta.url));
const FS_CLI = readFileSync(new URL('../fixtures/components/fs-cli.wasm', import.meta.url));
const CACHE = join(tmpdir(), 'wasm-sandbox-bench-cache');

/**
 * A load from the disk cache as a fresh process sees it (glue not yet parsed by Node), timed inside
 * the child so process start-up is not counted. Returns nanoseconds.
 */
function loadInNewProcess(): number {
  const entry = new URL('../src/index.ts', import.meta.url).href;
  const fixture = new URL('../fixtures/components/fs-cli.wasm', import.meta.url).pathname;
  const code = `
    const { ComponentRuntime } = await import(${JSON.stringify(entry)});
    const bytes = (await import('node:fs')).readFileSync(${JSON.stringify(fixture)});
    const rt = await ComponentRuntime.create(undefined, undefined, { cacheDir: ${JSON.stringify(CACHE)} });
    const t = process.hrtime.bigint();
    await rt.createComponentModule(bytes);
    const ns = process.hrtime.bigint() - t;
    if (rt.cacheStats().diskHits !== 1) throw new Error('expected a disk cache hit');
    process.stdout.write(String(ns));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout);
}

export default async function componentBench(): Promise<void> {
  const rt = await ComponentRuntime.create(undefined, undefined, { cacheDir: CACHE });
  const greeter = await rt.createComponentModule(GREETER);

  // jco's own bindings for the same component, instantiated the way jco's docs show (no limits).
  const cores = new Map<string, WebAssembly.Module>();
  for (const [name, bytes] of greeter.transpiled.coreModules) cores.set(name, await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>));
  const jco = (await greeter.transpiled.instantiate((name) => cores.get(name)!, {}, WebAssembly.instantiate)) as Record<string, Record<string, (s: string) => string>>;
  const jcoHello = jco['example:greeter/greet'].hello;

  const limited = await rt.instantiate(greeter);
  const unlimited = await rt.instantiate(greeter, { resourceLimits: ResourceLimits.unlimited() });
  const viaJco = await rt.instantiate(greeter, { resourceLimits: ResourceLimits.unlimited(), directCalls: false });
  const path = 'example:greeter/greet#hello';
  const hello = unlimited.exports['example:greeter/greet'].hello as (s: string) => Promise<string>;

  const N = 200_000;
  const jcoCall = await measure("jco bindings, hello('World')", (n) => { let s; for (let i = 0; i < n; i++) s = jcoHello('World'); return s; }, { ops: N });
  const ours = await measure("await instance.call(path, ['World'])", async (n) => { let s; for (let i = 0; i < n; i++) s = await unlimited.call(path, ['World']); return s; }, { ops: N });
  const oursProxy = await measure("await instance.exports[iface].hello('World')", async (n) => { let s; for (let i = 0; i < n; i++) s = await hello('World'); return s; }, { ops: N });
  const oursLimited = await measure('await instance.call(), default limits (deadline metering)', async (n) => { let s; for (let i = 0; i < n; i++) s = await limited.call(path, ['World']); return s; }, { ops: N });
  const oursViaJco = await measure('await instance.call(), directCalls: false', async (n) => { let s; for (let i = 0; i < n; i++) s = await viaJco.call(path, ['World']); return s; }, { ops: N / 4 });

  const M = 200;
  const jcoInstantiate = await measure('jco instantiate (compiled core modules)', async (n) => {
    for (let i = 0; i < n; i++) await greeter.transpiled.instantiate((name) => cores.get(name)!, {}, WebAssembly.instantiate);
  }, { ops: M });
  const ourInstantiate = await measure('runtime.instantiate (cached core modules)', async (n) => {
    for (let i = 0; i < n; i++) (await rt.instantiate(greeter)).close();
  }, { ops: M });

  // First load transpiles (no cache at all); a cached load reads the disk cache as a new process would.
  const firstLoad = await measure('first load of fs-cli (12 MB JS component): transpile', async () => {
    TranspileCache.clearMemory();
    const fresh = await ComponentRuntime.create(undefined, undefined, { cacheDir: false });
    await fresh.createComponentModule(FS_CLI);
  }, { ops: 1, rounds: 3, warmupRounds: 0 });
  // The transpile above left the entry in the process-wide memory cache only (its runtime had no
  // cache directory): forget it so this load writes the disk entry the new processes read.
  TranspileCache.clearMemory();
  await rt.createComponentModule(FS_CLI);
  const samples = [loadInNewProcess(), loadInNewProcess(), loadInNewProcess()].sort((a, b) => a - b);
  const cachedLoad = { name: 'cached load of fs-cli: disk cache, in a new process', nsPerOp: samples[1] };
  const memoryLoad = await measure('cached load of fs-cli: in-memory cache', async () => {
    await rt.createComponentModule(FS_CLI);
  }, { ops: 1, rounds: 5, warmupRounds: 1 });
  rt.close();

  report('Component calls and loading (greeter.wasm; fs-cli.wasm for loads)', [
    { what: 'typed call, unlimited', ours, baseline: jcoCall, goal: '≤ 0.5×', meets: (r) => r <= 0.5 },
    { what: 'typed call via the exports proxy', ours: oursProxy, baseline: jcoCall, goal: '≤ 0.5×', meets: (r) => r <= 0.5 },
    { what: 'typed call, default limits', ours: oursLimited, baseline: jcoCall, goal: 'informational', meets: () => true },
    { what: 'typed call through jco (directCalls: false)', ours: oursViaJco, baseline: jcoCall, goal: 'informational', meets: () => true },
    { what: 'instantiate', ours: ourInstantiate, baseline: jcoInstantiate, goal: 'informational', meets: () => true },
    { what: 'cached load (disk)', ours: cachedLoad, baseline: firstLoad, goal: 'informational', meets: () => true },
    { what: 'cached load (memory)', ours: memoryLoad, baseline: firstLoad, goal: 'informational', meets: () => true },
  ]);
}
