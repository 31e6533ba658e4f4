// Structured calls: JSON and MessagePack in and out of a guest written with the C SDK
// (fixtures/abi/c/structured.c), the same calls on an Extism plugin, and an async host function.
// Run with `./node_modules/.bin/node examples/structured_calls.ts`.
import { readFile } from 'node:fs/promises';
import { GuestError, WasmSandbox, decodeMsgpack, encodeMsgpack, type HostContext } from '../src/index.ts';

const fixture = async (path: string) => readFile(new URL(`../fixtures/abi/${path}`, import.meta.url));
const sandbox = await WasmSandbox.create();

// A guest of the native ABI: `wsdata:` exports take and return bytes.
const guest = await sandbox.createInstance(await sandbox.loadModule(await fixture('c/structured.wasm')));
console.log('data functions:', sandbox.listDataFunctions(guest).join(', '));
console.log('callFunctionJson(echo):', await sandbox.callFunctionJson(guest, 'echo', '{"hello":"guest"}'));
console.log('callFunction(add, [5, 3]) on a data function:', await sandbox.callFunction(guest, 'add', [5, 3]));
console.log('callFunction(mul, [5, 3]) on a numeric export:', await sandbox.callFunction(guest, 'mul', [5, 3]));
const packed = await sandbox.callFunctionMsgpack(guest, 'echo', encodeMsgpack({ list: [1, 2, 3], ok: true }));
console.log('callFunctionMsgpack(echo):', decodeMsgpack(packed));
try {
  await sandbox.callFunctionJson(guest, 'fail', '{}');
} catch (err) {
  if (!(err instanceof GuestError)) throw err;
  console.log(`fail → GuestError code=${String(err.guestCode)}: ${err.message}`);
}

// A plugin written against Extism's host ABI runs unchanged through the same calls.
const plugin = await sandbox.createInstance(await sandbox.loadModule(await fixture('wat/extism_plugin.wasm')), {
  extism: { config: { greeting: 'hello from the config' }, onLog: (level, message) => console.log(`  plugin log [${level}] ${message}`) },
});
console.log('Extism echo:', await sandbox.callFunctionJson(plugin, 'echo', '{"via":"extism"}'));
console.log('Extism greet:', new TextDecoder().decode(await sandbox.callFunctionBytes(plugin, 'greet', new Uint8Array())));
await sandbox.callFunctionBytes(plugin, 'log', new TextEncoder().encode('logged by the plugin'));

// An async host function: the guest waits in its import while the host awaits a promise.
const asyncGuest = await sandbox.createInstance(await sandbox.loadModule(await fixture('wat/async_host.wasm')), {
  capabilities: { hostFunctions: ['env.fetch', 'env.note'] },
  hostFunctions: {
    env: {
      fetch: async (_ctx: HostContext, n: number) => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        return n * 10;
      },
      note: (_ctx: HostContext, n: number) => n,
    },
  },
});
console.log('run(4) with an async host function:', await sandbox.callFunction(asyncGuest, 'run', [4]));

await sandbox.close();
