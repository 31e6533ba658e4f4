import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';
import { Capabilities, ResourceLimits, WasmSandbox } from '../src/index.ts';
import { measure, measureInterleaved, report } from './harness.ts';

const root = new URL('../', import.meta.url);
const HELLO_PATH = fileURLToPath(new URL('fixtures/wasi/hello.wasm', root));
const READ_PATH = fileURLToPath(new URL('fixtures/wasi/read_file.wasm', root));
const BIG_PATH = fileURLToPath(new URL('fixtures/wasi/big_data.wasm', root));

/** node:wasi running one command with a reused compiled module: the in-process baseline. */
function nodeWasiRunner(module: WebAssembly.Module, args: string[], preopens: Record<string, string> = {}) {
  const devNull = openSync('/dev/null', 'w');
  return {
    run() {
      const wasi = new WASI({ version: 'preview1', args, preopens, stdout: devNull, stderr: devNull, returnOnExit: true });
      const instance = new WebAssembly.Instance(module, wasi.getImportObject() as WebAssembly.Imports);
      return wasi.start(instance);
    },
    close: () => closeSync(devNull),
  };
}

export default async function wasiBench(): Promise<void> {
  const sandbox = await WasmSandbox.create();
  const limits = ResourceLimits.default();

  // Hello world in-process, compiled module reused by both sides.
  const helloBytes = readFileSync(HELLO_PATH);
  const helloModule = new WebAssembly.Module(helloBytes);
  const nodeHello = nodeWasiRunner(helloModule, ['hello.wasm']);
  const helloId = await sandbox.loadModule(helloBytes);
  const caps = Capabilities.captured();
  const ours = async () => {
    const id = await sandbox.createInstance(helloId, { capabilities: caps, resourceLimits: limits });
    const code = await sandbox.runCommand(id);
    await sandbox.destroyInstance(id);
    return code;
  };
  // The same run in a recycled instance (docs/recycled-instances.md): reset instead of instantiated.
  const recycled = async () => {
    const id = await sandbox.createInstance(helloId, { capabilities: caps, resourceLimits: limits, recycle: true });
    const code = await sandbox.runCommand(id);
    await sandbox.destroyInstance(id);
    return code;
  };
  const nodeHelloM = await measure('node:wasi', (n) => { for (let i = 0; i < n; i++) nodeHello.run(); }, { ops: 300 });
  const ourHelloM = await measure('wasm-sandbox', async (n) => { for (let i = 0; i < n; i++) await ours(); }, { ops: 300 });
  const recycledHelloM = await measure('wasm-sandbox, recycled instance', async (n) => { for (let i = 0; i < n; i++) await recycled(); }, { ops: 300 });
  nodeHello.close();

  // Throughput of fd_read over a 100 MB file, 1 MiB reads.
  const dir = mkdtempSync(join(tmpdir(), 'wasi-bench-'));
  const big = new Uint8Array(100 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 255;
  writeFileSync(join(dir, 'big.bin'), big);
  const readBytes = readFileSync(READ_PATH);
  const readModule = new WebAssembly.Module(readBytes);
  const nodeRead = nodeWasiRunner(readModule, ['read_file.wasm', '/data/big.bin'], { '/data': dir });
  const readId = await sandbox.loadModule(readBytes);
  const readCaps = Capabilities.captured().withArgs(['/data/big.bin']).withPreopen(dir, '/data', 'read');
  const nodeReadM = await measure('node:wasi', () => nodeRead.run(), { ops: 1, rounds: 5, warmupRounds: 1 });
  const ourReadM = await measure('wasm-sandbox', async () => {
    const id = await sandbox.createInstance(readId, { capabilities: readCaps, resourceLimits: limits });
    if ((await sandbox.runCommand(id)) !== 0) throw new Error('read_file failed');
    await sandbox.destroyInstance(id);
  }, { ops: 1, rounds: 5, warmupRounds: 1 });
  nodeRead.close();
  await sandbox.close();

  // Whole process: the CLI against a node script doing the same with node:wasi.
  const nodeScript = (name: string, path: string): string => {
    const file = join(dir, `node-wasi-${name}.mjs`);
    writeFileSync(file, `import { WASI } from 'node:wasi'; import { readFileSync } from 'node:fs';
const wasi = new WASI({ version: 'preview1', args: ['${name}.wasm'], returnOnExit: true });
const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(${JSON.stringify(path)})), wasi.getImportObject());
process.exitCode = wasi.start(instance);\n`);
    return file;
  };
  const script = nodeScript('hello', HELLO_PATH);
  const bigScript = nodeScript('big_data', BIG_PATH);
  const built = fileURLToPath(new URL('dist/bundle/main.js', root));
  const cli = existsSync(built) ? built : fileURLToPath(new URL('src/cli/main.ts', root));
  // The CLI keeps instrumented modules in its cache directory (as wasmtime's CLI keeps compiled
  // code); the warm-up round fills a private one, and a --no-cache run shows the cold rewrite.
  const env = { ...process.env, WASM_SANDBOX_CACHE_DIR: mkdtempSync(join(tmpdir(), 'wasi-bench-cache-')) };
  const spawnTimes = (args: string[]) => async (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
      if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
    }
  };
  const how = cli.endsWith('.js') ? 'dist' : 'src, TypeScript stripped at start';
  const [nodeProc, ourProc, ourColdProc] = await measureInterleaved([
    { name: 'node + node:wasi script', fn: spawnTimes([script]) },
    { name: `wasm-sandbox run (${how})`, fn: spawnTimes([cli, 'run', HELLO_PATH]) },
    { name: `wasm-sandbox run --no-cache (${how})`, fn: spawnTimes([cli, 'run', '--no-cache', HELLO_PATH]) },
  ], { ops: 10, rounds: 7, warmupRounds: 1 });
  // A multi-MB guest (4 MiB of data, a few bytes of it used): start-up should not scale with its size.
  const [nodeBig, ourBig] = await measureInterleaved([
    { name: 'node + node:wasi script', fn: spawnTimes([bigScript]) },
    { name: `wasm-sandbox run big_data.wasm (${how})`, fn: spawnTimes([cli, 'run', BIG_PATH]) },
  ], { ops: 5, rounds: 7, warmupRounds: 1 });

  report('WASI preview1 (C programs built with wasi-libc)', [
    { what: 'hello world in-process, module reused (instantiate + run)', ours: ourHelloM, baseline: nodeHelloM, goal: '≤ 0.5×', meets: (r) => r <= 0.5 },
    { what: 'same, recycled instance (reset to its state after instantiation + run)', ours: recycledHelloM, baseline: nodeHelloM, goal: 'informational', meets: () => true },
    { what: 'recycled instance vs a fresh one (memory-image reset vs instantiation)', ours: recycledHelloM, baseline: ourHelloM, goal: 'informational', meets: () => true },
    { what: 'fd_read of a 100 MB file, 1 MiB reads (time; lower is faster)', ours: ourReadM, baseline: nodeReadM, goal: 'throughput ≥ 0.8× (time ≤ 1.25×)', meets: (r) => r <= 1.25 },
    { what: `whole process: ${ourProc.name}`, ours: ourProc, baseline: nodeProc, goal: '≤ 1.0×', meets: (r) => r <= 1 },
    { what: `whole process: ${ourColdProc.name}`, ours: ourColdProc, baseline: nodeProc, goal: 'informational', meets: () => true },
    { what: `whole process, 4.3 MB guest: ${ourBig.name}`, ours: ourBig, baseline: nodeBig, goal: '≤ 1.0×', meets: (r) => r <= 1 },
  ]);
}
