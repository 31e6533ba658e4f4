import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ComponentInstance } from '../../component/component-instance.ts';
import type { ComponentModule } from '../../component/component-module.ts';
import type { ComponentRuntime } from '../../component/component-runtime.ts';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import type { HttpBackend } from './backend.ts';

/** Hop-by-hop headers belong to the server's connection, not the guest's response. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'content-length']);

/**
 * `wasi:http/proxy` components (what wasmtime serve and Spin run). With `reuse`, an instance that
 * answered cleanly serves later requests too, which spares the instantiation; one that trapped or was
 * stopped is discarded, so a bad request never leaves state behind for the next.
 */
export class WasiHttpBackend implements HttpBackend {
  readonly kind = 'wasi-http' as const;
  readonly streamsRequestBody = false;
  private readonly runtime: ComponentRuntime;
  private readonly component: ComponentModule;
  private readonly capabilities: Capabilities;
  private readonly resourceLimits: ResourceLimits;
  private readonly reuse: boolean;
  private readonly maxIdle: number;
  private readonly idle: ComponentInstance[] = [];

  constructor(runtime: ComponentRuntime, component: ComponentModule, capabilities: Capabilities, resourceLimits: ResourceLimits, pool: { reuse: boolean; maxIdle: number }) {
    this.runtime = runtime;
    this.component = component;
    this.capabilities = capabilities;
    this.resourceLimits = resourceLimits;
    this.reuse = pool.reuse;
    this.maxIdle = pool.maxIdle;
  }

  async serve(req: IncomingMessage, res: ServerResponse, body: Uint8Array): Promise<number> {
    const instance = this.idle.pop() ?? (await this.runtime.instantiate(this.component, { capabilities: this.capabilities, resourceLimits: this.resourceLimits }));
    let clean = false;
    try {
      // One pass over Node's raw pairs, which keep the client's spelling and repeated headers.
      const raw = req.rawHeaders;
      const headers: [string, string][] = [];
      for (let i = 0; i < raw.length; i += 2) {
        const lower = raw[i].toLowerCase();
        if (lower !== 'host' && !HOP_BY_HOP.has(lower)) headers.push([raw[i], raw[i + 1]]);
      }
      const response = await instance.handleHttpRequest({
        method: req.method,
        path: req.url ?? '/',
        scheme: 'http',
        authority: req.headers.host ?? '',
        headers,
        body,
      });
      clean = instance.usable;
      const out: string[] = [];
      for (const [name, value] of response.headers) if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, value);
      // The whole body is known: a length spares the client chunked decoding. Statuses that have no
      // body must not carry one.
      const status = response.status;
      if (status >= 200 && status !== 204 && status !== 304) out.push('content-length', String(response.body.length));
      res.writeHead(status, out);
      res.end(response.body);
      return response.body.length;
    } finally {
      if (clean && this.reuse && this.idle.length < this.maxIdle) this.idle.push(instance);
      else instance.close();
    }
  }

  async close(): Promise<void> {
    for (const instance of this.idle.splice(0)) instance.close();
    this.runtime.close();
  }
}
