// A MemoryChannel: two ring buffers in guest memory carrying whole messages both ways, with
// backpressure. The guest (fixtures/abi/c/channel_echo.c) answers every message with "echo:" + it.
// Run with `./node_modules/.bin/node examples/memory_channel.ts`.
import { readFile } from 'node:fs/promises';
import { MemoryChannel, WasmSandbox } from '../src/index.ts';

const sandbox = await WasmSandbox.create();
const guest = await sandbox.createInstance(await sandbox.loadModule(await readFile(new URL('../fixtures/abi/c/channel_echo.wasm', import.meta.url))));
const channel = await MemoryChannel.open(sandbox, guest);
console.log(`channel open: messages up to ${channel.maxMessageBytes} bytes`);

const encoder = new TextEncoder(), decoder = new TextDecoder();
await channel.send(encoder.encode('hello, guest'));
console.log('received:', decoder.decode(await channel.receive()));

// The rings hold a few messages: further sends wait until the host takes replies out.
let accepted = 0;
const sends = Array.from({ length: 8 }, (_, i) => channel.send(encoder.encode(`message ${i} ${'.'.repeat(80)}`)).then(() => { accepted++; }));
await new Promise((resolve) => setTimeout(resolve, 20));
console.log(`8 sends issued, ${accepted} accepted while nobody receives (backpressure)`);
for (let i = 0; i < 8; i++) console.log('received:', decoder.decode(await channel.receive()).slice(0, 20), '…');
await Promise.all(sends);
console.log(`all ${accepted} sends accepted once the replies were taken`);

channel.close();
await sandbox.close();
