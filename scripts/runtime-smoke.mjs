// The smoke test CI runs on every JavaScript runtime the README lists as supported (the lowest
// supported Node.js, Bun, Deno), against the built package: plain JavaScript, because not every one of
// them runs TypeScript. Usage: `<runtime> scripts/runtime-smoke.mjs` after `npm run build`.
// Prints one line per check and `N passed, 0 failed`; exits 1 at the first failure.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const at = (p) => fileURLToPath(new URL(p, root));
const { WasmSandbox, CliWrapper, Capabilities, ResourceLimits, Timeout, InvalidArguments, asyncHostFunction } = await import(new URL('dist/bundle/index.js', root).href);

const runtime = globalThis.Bun ? `bun ${globalThis.Bun.version}` : globalThis.Deno ? `deno ${globalThis.Deno.version.deno}` : `node ${process.versions.node}`;
let passed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok ${passed} - ${name}`);
  } catch (err) {
    console.log(`not ok - ${name}: ${err?.stack ?? err}`);
    console.log(`${passed} passed, 1 failed`);
    process.exit(1);
  }
}
function equal(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

console.log(`# wasm-sandbox smoke on ${runtime}`);
const add = readFileSync(at('fixtures/wat/add.wasm'));
const limits = readFileSync(at('fixtures/wat/limits.wasm'));

await check('numeric call in-process', async () => {
  const sandbox = await WasmSandbox.create();
  const id = await sandbox.createInstance(await sandbox.loadModule(add), {});
  equal(await sandbox.callFunction(id, 'add', [5, 3]), 8, 'add(5, 3)');
  await sandbox.close();
});

await check('200 ms deadline stops an infinite loop', async () => {
  const sandbox = await WasmSandbox.create();
  const id = await sandbox.createInstance(await sandbox.loadModule(limits), { resourceLimits: ResourceLimits.default().with({ time: { callTimeoutMs: 200 } }) });
  let caught;
  try {
    await sandbox.callFunction(id, 'forever', []);
  } catch (err) {
    caught = err;
  }
  if (!(caught instanceof Timeout)) throw new Error(`expected a Timeout, got ${caught}`);
  equal(caught.timeoutMs, 200, 'timeoutMs');
  await sandbox.close();
});

await check('CliWrapper runs cat.wasm with a read-only preopen', async () => {
  const wrapper = new CliWrapper();
  const caps = Capabilities.captured().withPreopen(at('examples/data'), '/data', 'read');
  const ok = await wrapper.runCliApp({ path: at('fixtures/wasi/cat.wasm'), args: ['/data/hello.txt'], capabilities: caps });
  equal(ok.exitCode, 0, 'exit code');
  equal(ok.stdoutText(), readFileSync(at('examples/data/hello.txt'), 'utf8'), 'stdout');
  const outside = await wrapper.runCliApp({ path: at('fixtures/wasi/cat.wasm'), args: ['/data/../../package.json'], capabilities: caps });
  if (outside.exitCode === 0) throw new Error('cat read outside its preopen');
  await wrapper.close();
});

await check('worker-runtime call', async () => {
  const sandbox = await WasmSandbox.create({ runtime: 'worker' });
  const id = await sandbox.createInstance(await sandbox.loadModule(add), {});
  equal(await sandbox.callFunction(id, 'add', [40, 2]), 42, 'add(40, 2) on a worker');
  await sandbox.close();
});

await check('async host function: on the worker runtime, and in-process where the engine has JSPI', async () => {
  const hostBytes = readFileSync(at('fixtures/wat/worker_host.wasm'));
  const noop = () => {};
  const hostFunctions = { env: { log: noop, fill: () => 0, add64: asyncHostFunction(async (_ctx, a, b) => a + b), pair: () => [1, 2], fail: noop, reenter: () => 0 } };
  const jspi = typeof WebAssembly.Suspending === 'function';
  for (const runtime of ['worker', 'inprocess']) {
    const sandbox = await WasmSandbox.create({ runtime });
    const id = await sandbox.loadModule(hostBytes);
    const config = { capabilities: { hostFunctions: ['env.*'] }, hostFunctions };
    if (runtime === 'inprocess' && !jspi) {
      let caught;
      await sandbox.createInstance(id, config).catch((err) => (caught = err));
      if (!(caught instanceof InvalidArguments) || !/Promise Integration/.test(caught.message)) throw new Error(`expected InvalidArguments naming JSPI, got ${caught}`);
    } else {
      equal(await sandbox.callFunction(await sandbox.createInstance(id, config), 'sum64', [2n, 3n]), 5n, `sum64 through an async import (${runtime})`);
    }
    await sandbox.close();
  }
  console.log(`# JSPI: ${jspi ? 'yes' : 'no (in-process async host functions refused with a typed error)'}`);
});

await check('require() of the package (CommonJS callers)', async () => {
  const required = createRequire(import.meta.url)(at('dist/bundle/index.js'));
  equal(required.WasmSandbox, WasmSandbox, 'the same WasmSandbox as import gives');
});

console.log(`${passed} passed, 0 failed`);
