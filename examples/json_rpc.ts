// JSON-RPC 2.0 between host and guest over a MemoryChannel, in both directions: the host calls the
// guest's methods, the guest calls the host's (host.double) while serving a call, notifications go
// both ways, and errors and timeouts arrive as typed errors. The guest is fixtures/abi/c/rpc_guest.c;
// the same runs on the worker runtime (pass `worker` as an argument).
// Run with `./node_modules/.bin/node examples/json_rpc.ts [inprocess|worker]`.
import { readFile } from 'node:fs/promises';
import { GuestError, JsonRpcChannel, MemoryChannel, Timeout, WasmSandbox } from '../src/index.ts';

const runtime = process.argv[2] === 'worker' ? 'worker' : 'inprocess';
const sandbox = await WasmSandbox.create({ runtime });
const guest = await sandbox.createInstance(await sandbox.loadModule(await readFile(new URL('../fixtures/abi/c/rpc_guest.wasm', import.meta.url))));
const rpc = new JsonRpcChannel(await MemoryChannel.open(sandbox, guest), { timeoutMs: 2000 });

rpc.register('host.double', (params) => (params as number[])[0] * 2);
rpc.register('guest.event', (params) => console.log('notification from the guest: guest.event', JSON.stringify(params)));
rpc.register('pong', () => console.log('notification from the guest: pong'));

console.log(`[${runtime}] add(5, 3) =`, await rpc.call('add', [5, 3]));
console.log('echo =', await rpc.call('echo', { nested: ['values', 1, true] }));
console.log('ask_host(21) =', await rpc.call('ask_host', [21]), '(the guest asked the host for 21 × 2, then added 1)');
console.log('notify_me(7) =', await rpc.call('notify_me', [7]));
await rpc.notify('ping');

try {
  await rpc.call('fail');
} catch (err) {
  if (!(err instanceof GuestError)) throw err;
  console.log(`fail → error object code=${String(err.guestCode)} data=${JSON.stringify(err.data)}`);
}
try {
  await rpc.call('slow', [], { timeoutMs: 50 });
} catch (err) {
  if (!(err instanceof Timeout)) throw err;
  console.log(`slow → ${err.message}`);
}

await new Promise((resolve) => setTimeout(resolve, 10));
rpc.close();
await sandbox.close();
