// A fresh process that does what a core-module user does first: import the package (the module at
// argv[2]), load a tiny module, make one numeric call. bench/import.bench.ts times it against
// `node -e 0`; test/package/import-cost.test.ts runs it with `--report`, which prints what the process
// loaded (module URLs, Node's built-in module list, its thread count) as JSON.
import { registerHooks } from 'node:module';

const report = process.argv.includes('--report');
const urls = [];
if (report) registerHooks({ load: (url, context, next) => (urls.push(url), next(url, context)) });
const builtinsBefore = process.moduleLoadList.length;

const { WasmSandbox } = await import(process.argv[2]);
// (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
const add = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11]);
const sandbox = await WasmSandbox.create();
const id = await sandbox.createInstance(await sandbox.loadModule(add), {});
const result = await sandbox.callFunction(id, 'add', [2, 3]);
if (result !== 5) throw new Error(`add(2, 3) returned ${result}`);

if (report) {
  const { readdirSync } = process.getBuiltinModule('node:fs');
  const threads = readdirSync('/proc/self/task').length;
  process.stdout.write(JSON.stringify({ result, urls, builtins: process.moduleLoadList.slice(builtinsBefore), threads }));
}
