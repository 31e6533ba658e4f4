import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ComponentInstance } from '../../component/component-instance.ts';
import type { ComponentModule } from '../../component/component-module.ts';
import type { ComponentRuntime } from '../../component/component-runtime.ts';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import { Trap } from '../../errors.ts';
import type { HttpBackend } from './backend.ts';
import { REUSE_OFF_NOTICE } from './wasi-http-worker-backend.ts';
import { bodyless, clientResponseHeaders, guestRequestHeaders } from './http-headers.ts';

/**
 * `wasi:http/proxy` components (what wasmtime serve and Spin run) on the server's own thread: the
 * `inprocess` runtime. With `reuse`, an instance that answered cleanly serves later requests too,
 * which spares the instantiation; one that trapped or was stopped is discarded, so a bad request never
 * leaves state behind for the next. A synchronous guest on this thread cannot wait for network data,
 * so both bodies are whole: the request's is read before the guest runs, the response's sent once
 * the handler has returned.
 */
export class WasiHttpBackend implements HttpBackend {
  readonly kind = 'wasi-http' as const;
  readonly streamsRequestBody = false;
  private readonly runtime: ComponentRuntime;
  private readonly component: ComponentModule;
  private readonly capabilities: Capabilities;
  private readonly resourceLimits: ResourceLimits;
  private reuse: boolean;
  /** Some instance has answered two requests cleanly: this guest does serve several per instance. */
  private reuseProven = false;
  private readonly maxIdle: number;
  private readonly notice: (message: string) => void;
  /** Idle instances, each with the number of requests it has answered cleanly. */
  private readonly idle: { instance: ComponentInstance; served: number }[] = [];
  private running = 0;
  onViolation: ((capability: string) => void) | undefined;

  constructor(runtime: ComponentRuntime, component: ComponentModule, capabilities: Capabilities, resourceLimits: ResourceLimits, pool: { reuse: boolean; maxIdle: number; notice: (message: string) => void }) {
    this.runtime = runtime;
    this.component = component;
    this.capabilities = capabilities;
    this.resourceLimits = resourceLimits;
    this.reuse = pool.reuse;
    this.maxIdle = pool.maxIdle;
    this.notice = pool.notice;
  }

  async serve(req: IncomingMessage, res: ServerResponse, body: Uint8Array): Promise<number> {
    const kept = this.idle.pop();
    const served = kept?.served ?? 0;
    const instance = kept?.instance ?? (await this.runtime.instantiate(this.component, {
      capabilities: this.capabilities,
      resourceLimits: this.resourceLimits,
      onViolation: (v) => this.onViolation?.(v.capability),
    }));
    let clean = false;
    let failure: unknown;
    this.running++;
    try {
      const response = await instance.handleHttpRequest({
        method: req.method,
        path: req.url ?? '/',
        scheme: 'http',
        authority: req.headers.host ?? '',
        headers: guestRequestHeaders(req.rawHeaders),
        body,
      });
      clean = instance.usable;
      const out = clientResponseHeaders(response.headers);
      // The whole body is known: a length spares the client chunked decoding.
      const status = response.status;
      if (!bodyless(status)) out.push('content-length', String(response.body.length));
      res.writeHead(status, out);
      res.end(response.body);
      return response.body.length;
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      this.running--;
      if (failure instanceof Trap && served === 1 && this.reuse && !this.reuseProven) {
        // Its first request went well and its second trapped, and no instance has served two: this
        // guest serves one request per instance (see component-worker-entry.ts for the threads).
        this.reuse = false;
        for (const i of this.idle.splice(0)) i.instance.close();
        this.notice(REUSE_OFF_NOTICE);
      }
      if (failure === undefined && served === 1) this.reuseProven = true;
      if (clean && this.reuse && this.idle.length < this.maxIdle) this.idle.push({ instance, served: served + 1 });
      else instance.close();
    }
  }

  instances(): number {
    return this.idle.length + this.running;
  }

  async close(): Promise<void> {
    for (const { instance } of this.idle.splice(0)) instance.close();
    this.runtime.close();
  }
}
