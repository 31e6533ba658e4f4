import type { IncomingMessage, ServerResponse } from 'node:http';
import { Timeout } from '../../errors.ts';
import type { ComponentModule } from '../../component/component-module.ts';
import { toPortable } from '../../component/portable-component.ts';
import { instrumentationFor } from '../../runtime/limits/instrumentation-plan.ts';
import { limitsInWorker, workerLimits } from '../../runtime/worker/worker-limits.ts';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import type { HttpBackend, StreamedBody } from './backend.ts';
import { ComponentWorkerPool } from './worker/component-worker-pool.ts';
import { DeadlineQueue } from './worker/deadline-queue.ts';
import { WorkerExchange } from './worker/worker-exchange.ts';

export interface WorkerPoolSettings {
  reuse: boolean;
  /** Threads kept started while idle. */
  warm: number;
  /** Threads at most: the server's concurrency. */
  max: number;
}

/**
 * `wasi:http/proxy` components on worker threads: the `worker` runtime, the default. Each thread
 * holds an instance of the component (reused after a clean answer with `reuse`, replaced after
 * anything else) and serves one request at a time, with both bodies streamed: the guest's reads of
 * the request body wait for the client's bytes, and the response reaches the client as the guest
 * writes it. A request past its deadline has its thread terminated wherever the guest is (a loop
 * included) while other threads go on serving; the thread is replaced.
 */
export class WasiHttpWorkerBackend implements HttpBackend {
  readonly kind = 'wasi-http' as const;
  readonly streamsRequestBody = true;
  private readonly pool: ComponentWorkerPool;
  private readonly deadlines: DeadlineQueue<WorkerExchange> | undefined;

  private constructor(pool: ComponentWorkerPool, timeoutMs: number | null) {
    this.pool = pool;
    if (timeoutMs !== null) {
      this.deadlines = new DeadlineQueue<WorkerExchange>(
        timeoutMs,
        (exchange) => exchange.finished,
        (exchange, elapsed) => pool.expire(exchange, new Timeout('call', timeoutMs, elapsed)),
      );
    }
  }

  /** Prepares the component for the threads (compiled here, once), starts the warm ones and waits for the first. */
  static async create(component: ComponentModule, capabilities: Capabilities, resourceLimits: ResourceLimits, settings: WorkerPoolSettings): Promise<WasiHttpWorkerBackend> {
    // Deadlines are this thread's to enforce (by terminating the worker): the guest is not instrumented for them.
    const enforced = limitsInWorker(resourceLimits);
    // Always metered, as core guests on threads are: a termination takes effect at the next checkpoint.
    const portable = await toPortable(component, instrumentationFor(enforced, { alwaysMeter: true }));
    const pool = new ComponentWorkerPool({
      component: portable,
      capabilities: { ...capabilities },
      resourceLimits: { ...enforced },
      maxPages: enforced.maxPages,
      instanceLifetimeMs: resourceLimits.time.instanceLifetimeMs,
      reuse: settings.reuse,
    }, workerLimits(resourceLimits), { warm: settings.warm, max: settings.max });
    try {
      // A component that cannot start on a worker thread fails here, not as every request's 500.
      await pool.firstReady;
    } catch (err) {
      await pool.close();
      throw err;
    }
    return new WasiHttpWorkerBackend(pool, resourceLimits.time.callTimeoutMs);
  }

  serve(req: IncomingMessage, res: ServerResponse, body: Uint8Array | StreamedBody): Promise<number> {
    const exchange = new WorkerExchange(req, res, body);
    this.deadlines?.add(exchange);
    this.pool.dispatch(exchange);
    return exchange.result;
  }

  close(): Promise<void> {
    this.deadlines?.clear();
    return this.pool.close();
  }
}
