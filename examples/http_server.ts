// Serves a sandboxed WAGI app (a C program compiled to WASI) and makes a few requests to it,
// including ones that trap and loop forever. Run with `node examples/http_server.ts`.
import { fileURLToPath } from 'node:url';
import { HttpServerWrapper } from '../src/index.ts';

const wrapper = new HttpServerWrapper({ accessLog: process.stderr });
const serverId = await wrapper.startServer({
  path: fileURLToPath(new URL('../fixtures/http/wagi_app.wasm', import.meta.url)),
  listen: { host: '127.0.0.1', port: 0 },
  resourceLimits: { memory: { maxMemoryBytes: '32MiB' } },
  requestTimeoutMs: '500ms',
  pool: { maxConcurrency: 8 },
});
const { url } = wrapper.address(serverId);
console.log(`serving on ${url}`);

for (const path of ['/hello', '/created', '/trap', '/loop', '/secret']) {
  const response = await fetch(url + path);
  console.log(`${path} → ${response.status} ${JSON.stringify(await response.text())}`);
}
console.log('metrics:', wrapper.metrics(serverId));
await wrapper.stopServer(serverId);
