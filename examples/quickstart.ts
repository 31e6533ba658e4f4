// Loads a module, runs it under the minimal capabilities and default limits, and shows what the
// sandbox does with a misbehaving guest. Run with `npm run example`.
import { readFile } from 'node:fs/promises';
import { Capabilities, ResourceLimits, Trap, WasmSandbox } from '../src/index.ts';

const sandbox = await WasmSandbox.create();
const moduleId = await sandbox.loadModule(await readFile(new URL('../fixtures/wat/add.wasm', import.meta.url)));

const info = sandbox.inspectModule(moduleId);
console.log(`module: ${info.exports.filter((e) => e.kind === 'function').map((e) => `${e.name}(${e.signature!.params.join(', ')})`).join(', ')}`);

const instanceId = await sandbox.createInstance(moduleId, {
  capabilities: Capabilities.minimal(),
  resourceLimits: ResourceLimits.default(),
});

console.log('add(5, 3) =', await sandbox.callFunction(instanceId, 'add', [5, 3]));
const add64 = sandbox.getFunction<[bigint, bigint], bigint>(instanceId, 'add64');
console.log('add64(2^40, 1) =', await add64(2n ** 40n, 1n));

try {
  await sandbox.callFunction(instanceId, 'div', [1, 0]);
} catch (err) {
  if (err instanceof Trap) console.log(`div(1, 0) trapped: kind=${err.kind}; the host is fine`);
  else throw err;
}

console.log('metrics:', sandbox.getMetrics(instanceId));
await sandbox.close();
