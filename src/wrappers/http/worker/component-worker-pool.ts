/**
 * The component worker threads of one server, and which request goes to which (see `place`). A
 * request without a body joins a busy thread whose queue is short: that thread is awake, so nobody
 * has to wake it, and its answers come back in batches. Otherwise a request takes an idle thread, so
 * guests that take a while run side by side, or else waits. A thread is started for waiting requests
 * only when the wait lasts (as long as a thread start takes lately, at least MIN_SPAWN_DELAY_MS):
 * quick requests hand their threads on long before that, so a steady load of them runs on a few
 * threads, while a request that loops or waits on a slow client gets a thread of its own beside it
 * and never holds the others up. Threads beyond the warm ones stop after a spell of idleness.
 */
import { availableParallelism } from 'node:os';
import { SandboxClosed, type WasmSandboxError } from '../../../errors.ts';
import type { WorkerLimits } from '../../../runtime/worker/worker-limits.ts';
import { ComponentWorker, type ComponentWorkerEvents, type ComponentWorkerInit } from './component-worker.ts';
import type { WorkerExchange } from './worker-exchange.ts';

/** Waiting this long for a busy thread costs at most what starting another would (the ski-rental bound). */
const MIN_SPAWN_DELAY_MS = 25;
/** A start slowed by a passing hiccup must not hold new threads back for long. */
const MAX_SPAWN_DELAY_MS = 1000;
/** A queue this short (requests ahead × their recent service time) is joined rather than waking an idle thread. */
const SHORT_BACKLOG_MS = 0.5;
/** Cores beside the server's own thread: guests running at once beyond this only share them. */
const SPARE_CORES = Math.max(1, availableParallelism() - 1);
/** Surplus threads are stopped once idle this long: long enough to ride out bursts, short enough to give memory back. */
const SURPLUS_IDLE_MS = 5000;

export interface ComponentWorkerPoolOptions {
  /** Threads kept started even when idle; started at once. */
  warm: number;
  /** Threads at most. */
  max: number;
}

export class ComponentWorkerPool {
  private readonly init: ComponentWorkerInit;
  private readonly limits: WorkerLimits;
  private readonly warm: number;
  private readonly max: number;
  private readonly live = new Set<ComponentWorker>();
  /** Threads with requests in flight. */
  private readonly busy = new Set<ComponentWorker>();
  /** Ready and idle, most recently used last. */
  private readonly idle: { worker: ComponentWorker; since: number }[] = [];
  private readonly waiting: WorkerExchange[] = [];
  private starting = 0;
  /** Wall time from start to ready of the latest thread starts, smoothed. */
  private startMs = 100;
  private spawnTimer: ReturnType<typeof setTimeout> | undefined;
  private trimTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly events: ComponentWorkerEvents;
  private first: Promise<void> | undefined;

  constructor(init: ComponentWorkerInit, limits: WorkerLimits, options: ComponentWorkerPoolOptions) {
    this.init = init;
    this.limits = limits;
    this.max = Math.max(1, options.max);
    this.warm = Math.min(options.warm, this.max);
    this.events = {
      idle: (worker) => this.becameIdle(worker),
      died: (worker, withdrawn) => this.lost(worker, withdrawn),
      withdrew: (_worker, withdrawn) => this.requeue(withdrawn),
    };
    for (let i = 0; i < this.warm; i++) {
      const worker = this.spawn();
      if (!this.first) {
        this.first = worker.readyHeld();
        this.first.catch(() => {});
      }
    }
  }

  /**
   * Resolves once the first warm thread is ready, or rejects with why it could not start (the
   * component cannot be loaded or instantiated on a worker thread). Without warm threads, at once.
   */
  get firstReady(): Promise<void> {
    return this.first ?? Promise.resolve();
  }

  /** Threads alive (started or starting), each holding an instance of the component. */
  get threads(): number {
    return this.live.size;
  }

  /** Sends `exchange` to a thread now, or as soon as one can take it. */
  dispatch(exchange: WorkerExchange): void {
    if (this.closed) {
      exchange.fail(new SandboxClosed());
      return;
    }
    if (!this.place(exchange)) {
      exchange.waitingSince = performance.now();
      this.waiting.push(exchange);
      this.considerSpawn();
    }
  }

  /** `exchange` reached its deadline (`error`): it fails, and if its guest runs, its thread is stopped. */
  expire(exchange: WorkerExchange, error: WasmSandboxError): void {
    const at = this.waiting.indexOf(exchange);
    if (at >= 0) {
      this.waiting.splice(at, 1);
      exchange.fail(error);
      return;
    }
    if (exchange.owner) exchange.owner.expire(exchange, error);
    else exchange.fail(error);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.spawnTimer);
    clearTimeout(this.trimTimer);
    for (const e of this.waiting.splice(0)) e.fail(new SandboxClosed());
    this.idle.length = 0;
    await Promise.all([...this.live].map((w) => w.kill(new SandboxClosed())));
  }

  /**
   * A request without a body goes behind the busy thread with the shortest queue when that queue is
   * short (guests this quick are served sooner by one awake thread than by several woken ones) or
   * when every spare core already has a thread at work; otherwise it takes an idle thread (guests
   * that take a while run side by side), or else queues anyway (sooner than waiting in line here).
   */
  private place(exchange: WorkerExchange): boolean {
    // With as many threads at work as there are cores to spare, another would only take turns with them.
    const coresSpare = this.busy.size < SPARE_CORES;
    let behind: ComponentWorker | undefined;
    let backlog = Infinity;
    if (!exchange.hasBody) {
      for (const worker of this.busy) {
        if (!worker.canQueue(exchange)) continue;
        const wait = worker.backlogMs();
        if (wait < backlog) {
          behind = worker;
          backlog = wait;
        }
      }
    }
    const join = behind !== undefined && (backlog < SHORT_BACKLOG_MS || !coresSpare);
    // The most recently used idle thread: its code and caches are the warmest.
    const worker = (join ? behind : this.idle.pop()?.worker) ?? behind;
    if (!worker) return false;
    this.busy.add(worker);
    worker.accept(exchange);
    return true;
  }

  /** Places waiting requests, oldest first, as far as threads can take them. */
  private serveWaiting(): void {
    while (this.waiting.length > 0 && this.place(this.waiting[0])) this.waiting.shift();
    this.considerSpawn();
  }

  private requeue(withdrawn: WorkerExchange[]): void {
    if (this.closed) {
      for (const e of withdrawn) e.fail(new SandboxClosed());
      return;
    }
    // They have waited longest: ahead of everyone else.
    const now = performance.now();
    for (const e of withdrawn) e.waitingSince = Math.min(now, e.since);
    this.waiting.unshift(...withdrawn);
    this.serveWaiting();
  }

  private becameIdle(worker: ComponentWorker): void {
    this.busy.delete(worker);
    if (this.closed) {
      void worker.kill(new SandboxClosed());
      return;
    }
    this.idle.push({ worker, since: performance.now() });
    this.serveWaiting();
    if (this.idle.length > this.warm) this.trimLater();
  }

  private spawnDelay(): number {
    return Math.min(MAX_SPAWN_DELAY_MS, Math.max(MIN_SPAWN_DELAY_MS, this.startMs));
  }

  /** Starts a thread for waiters that threads already starting will not cover, once they have waited long enough. */
  private considerSpawn(): void {
    if (this.closed || this.spawnTimer) return;
    if (this.waiting.length <= this.starting || this.live.size >= this.max) return;
    // With no thread at all there is nothing to wait for.
    const due = this.live.size === 0 ? 0 : this.waiting[this.starting].waitingSince + this.spawnDelay() - performance.now();
    if (due <= 0) {
      this.spawn();
      this.considerSpawn();
      return;
    }
    this.spawnTimer = setTimeout(() => {
      this.spawnTimer = undefined;
      this.considerSpawn();
    }, Math.ceil(due));
    this.spawnTimer.unref();
  }

  private spawn(): ComponentWorker {
    const worker = new ComponentWorker(this.init, this.limits, this.events);
    const started = performance.now();
    this.live.add(worker);
    this.starting++;
    worker.ready.then(
      () => {
        this.starting--;
        this.startMs = (this.startMs + performance.now() - started) / 2;
        this.becameIdle(worker);
      },
      (err: unknown) => {
        this.starting--;
        // A thread that cannot start fails the requests nothing else is coming for, rather than leaving them waiting.
        if (this.live.size === 0) for (const e of this.waiting.splice(0)) e.fail(err);
      },
    );
    return worker;
  }

  private lost(worker: ComponentWorker, withdrawn: WorkerExchange[]): void {
    this.live.delete(worker);
    this.busy.delete(worker);
    const at = this.idle.findIndex((i) => i.worker === worker);
    if (at >= 0) this.idle.splice(at, 1);
    if (this.closed) {
      for (const e of withdrawn) e.fail(new SandboxClosed());
      return;
    }
    // A thread stopped at a deadline is replaced at once when the warm ones fall short: the next
    // request should not wait for a start. One that never started is not retried here.
    if (worker.started && this.live.size < this.warm) this.spawn();
    this.requeue(withdrawn);
  }

  /** Stops the surplus threads idle the longest, keeping the warm ones. */
  private trimLater(delay = SURPLUS_IDLE_MS): void {
    if (this.trimTimer) return;
    this.trimTimer = setTimeout(() => {
      this.trimTimer = undefined;
      const cutoff = performance.now() - SURPLUS_IDLE_MS;
      while (this.idle.length > this.warm && this.idle[0].since <= cutoff) void this.idle.shift()!.worker.kill(new SandboxClosed());
      if (this.idle.length > this.warm) this.trimLater(this.idle[0].since - cutoff);
    }, Math.max(1, delay));
    this.trimTimer.unref();
  }
}
