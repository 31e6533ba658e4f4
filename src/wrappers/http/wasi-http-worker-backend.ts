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
import { newViolations, REUSE_OFF, TALLIES_BYTES, violationsSeen } from './worker/server-tallies.ts';

/**
 * The young generation of each thread's V8 heap. A request leaves a few hundred KB of short-lived
 * glue objects; with V8's default (small) young generation for a worker, concurrent requests promote
 * them to the old generation, which V8 then lets grow towards its limit before collecting: under a
 * long load each thread's heap grew from ~80 to ~200 MB while what was alive after a collection
 * stayed at 25–90 MB. Room for a few hundred requests' garbage keeps it dying young, and each
 * thread's heap near 100 MB.
 */
const YOUNG_GENERATION_MB = 64;

/** The one line said when a server stops reusing instances. */
export const REUSE_OFF_NOTICE = 'a reused component instance trapped where its first request did not: this guest serves one request per instance, so every request now gets a fresh instance (set serve.reuseInstances: false or --no-reuse to start that way)';

export interface WorkerPoolSettings {
  reuse: boolean;
  /** Threads kept started while idle. */
  warm: number;
  /** Threads at most: the server's concurrency. */
  max: number;
  /** Told once when the threads stop reusing instances (see PoolOptions.reuse). */
  notice: (message: string) => void;
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
  /** Refusals happen on the threads, which count them in the tallies; passed on by `flushViolations`. */
  onViolation: ((capability: string) => void) | undefined;

  private readonly tallies: Int32Array;
  private readonly violationsSeen = violationsSeen();
  private readonly notice: (message: string) => void;
  private noticed = false;

  private constructor(pool: ComponentWorkerPool, timeoutMs: number | null, tallies: Int32Array, notice: (message: string) => void) {
    this.pool = pool;
    this.tallies = tallies;
    this.notice = notice;
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
    const tallies = new SharedArrayBuffer(TALLIES_BYTES);
    const pool = new ComponentWorkerPool({
      component: portable,
      capabilities: { ...capabilities },
      resourceLimits: { ...enforced },
      maxPages: enforced.maxPages,
      instanceLifetimeMs: resourceLimits.time.instanceLifetimeMs,
      reuse: settings.reuse,
      tallies,
    }, { ...workerLimits(resourceLimits), maxYoungGenerationSizeMb: YOUNG_GENERATION_MB }, { warm: settings.warm, max: settings.max });
    try {
      // A component that cannot start on a worker thread fails here, not as every request's 500.
      await pool.firstReady;
    } catch (err) {
      await pool.close();
      throw err;
    }
    return new WasiHttpWorkerBackend(pool, resourceLimits.time.callTimeoutMs, new Int32Array(tallies), settings.notice);
  }

  serve(req: IncomingMessage, res: ServerResponse, body: Uint8Array | StreamedBody): Promise<number> {
    this.noticeReuseOff();
    this.flushViolations();
    const exchange = new WorkerExchange(req, res, body);
    this.deadlines?.add(exchange);
    this.pool.dispatch(exchange);
    return exchange.result;
  }

  /** Said with the next request after a thread turned reuse off (one load per request until then). */
  private noticeReuseOff(): void {
    if (this.noticed || Atomics.load(this.tallies, REUSE_OFF) === 0) return;
    this.noticed = true;
    this.notice(REUSE_OFF_NOTICE);
  }

  flushViolations(): void {
    const report = this.onViolation;
    if (!report) return;
    for (const [capability, n] of newViolations(this.tallies, this.violationsSeen)) for (let i = 0; i < n; i++) report(capability);
  }

  instances(): number {
    return this.pool.threads;
  }

  close(): Promise<void> {
    this.noticeReuseOff();
    this.deadlines?.clear();
    return this.pool.close();
  }
}
