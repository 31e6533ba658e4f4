// Runs a WASI command-line program (cat, compiled from C) with one read-only directory, captured
// output and limits; then shows that reading outside the grant fails. Run with `node examples/cli_wrapper.ts`.
import { fileURLToPath } from 'node:url';
import { Capabilities, CliWrapper } from '../src/index.ts';

const cat = fileURLToPath(new URL('../fixtures/wasi/cat.wasm', import.meta.url));
const data = fileURLToPath(new URL('./data', import.meta.url));
const wrapper = new CliWrapper();

const ok = await wrapper.runCliApp({
  path: cat,
  args: ['/data/hello.txt'],
  capabilities: Capabilities.captured().withPreopen(data, '/data', 'read'),
  resourceLimits: { memory: { maxMemoryBytes: '16MiB' }, time: { callTimeoutMs: '2s' } },
});
console.log(`exit ${ok.exitCode}; stdout: ${JSON.stringify(ok.stdoutText())}`);

const denied = await wrapper.runCliApp({
  path: cat,
  args: ['/data/../../package.json', '/etc/passwd'],
  capabilities: Capabilities.captured().withPreopen(data, '/data', 'read'),
});
console.log(`exit ${denied.exitCode}; stderr: ${JSON.stringify(denied.stderrText())}`);

const piped = wrapper.runCliAppStreaming({ path: cat, stdin: 'streamed through stdin\n' });
piped.stdout.on('data', (chunk: Buffer) => console.log(`stdout chunk: ${JSON.stringify(chunk.toString())}`));
console.log('metrics:', (await piped.result).metrics);
await wrapper.close();
