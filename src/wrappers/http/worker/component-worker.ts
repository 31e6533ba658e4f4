/**
 * One component worker thread, seen from the server's thread: starting it, handing it requests,
 * passing its response records to the requests they belong to, and turning its death (terminated at
 * a deadline, crashed, out of heap) into a typed error for the request it was serving.
 *
 * The worker serves one request at a time, in the order they were sent, but a request without a
 * body may be sent while earlier ones are still in flight: the worker then finds it as soon as it
 * is free, without being woken, and the server reads several answers per wake. Requests the worker
 * has not taken yet can be withdrawn and sent elsewhere.
 */
import type { Worker } from 'node:worker_threads';
import type { WasmSandboxError } from '../../../errors.ts';
import type { WorkerLimits } from '../../../runtime/worker/worker-limits.ts';
import { startGuestThread } from '../../../runtime/worker/worker-thread.ts';
import type { ComponentWorkerData } from './component-worker-entry.ts';
import { CLAIM_SLOTS, ExchangeMemory } from './exchange-memory.ts';
import type { WorkerExchange } from './worker-exchange.ts';

// Run from source the entry is TypeScript, from dist (or the CLI bundle) JavaScript beside this file.
const ENTRY = new URL(`./component-worker-entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** Requests a thread holds at most: one being served, the rest queued behind it. */
export const MAX_IN_FLIGHT = 16;
/** Requests are queued behind one only while it is this young: an older one may be slow, or stuck. */
const QUEUE_BEHIND_MS = 10;
/** Queued requests still waiting when the one ahead has run this long are sent elsewhere. */
const WITHDRAW_AFTER_MS = 25;

export type ComponentWorkerInit = Omit<ComponentWorkerData, 'memory'>;

export interface ComponentWorkerEvents {
  /** It holds no request any more. */
  idle(worker: ComponentWorker): void;
  /** It died; `withdrawn` are requests it had not started, to be sent elsewhere. */
  died(worker: ComponentWorker, withdrawn: WorkerExchange[]): void;
  /** Requests it had not started, taken back from behind a slow one, to be sent elsewhere. */
  withdrew(worker: ComponentWorker, withdrawn: WorkerExchange[]): void;
}

export class ComponentWorker {
  readonly memory = new ExchangeMemory();
  /** Settles once the thread has its component and an instance ready. */
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private readonly events: ComponentWorkerEvents;
  private death: WasmSandboxError | undefined;
  private hasStarted = false;
  /** In the order sent; the first is the one the worker serves (or will serve next). */
  private readonly inFlight: WorkerExchange[] = [];
  private nextSeq = 0;
  private watching = false;
  private withdrawTimer: ReturnType<typeof setTimeout> | undefined;
  private holds = 0;
  /** A paused request whose client caught up lets the records behind it through. */
  private readonly resumeDrain = (): void => this.drain();
  private readonly exited: Promise<void>;

  constructor(init: ComponentWorkerInit, limits: WorkerLimits, events: ComponentWorkerEvents) {
    this.events = events;
    // Idle threads never keep the process alive; one with requests in flight does (see hold).
    const workerData: ComponentWorkerData = { ...init, memory: this.memory.buffer };
    ({ worker: this.worker, exited: this.exited } = startGuestThread(ENTRY, 'wasm-sandbox-http', workerData, limits, (error) => this.died(error)));
    this.ready = this.whenReady();
    // Nobody may be awaiting `ready` (a spare warming up); its failure is reported through `died`.
    this.ready.catch(() => {});
  }

  private async whenReady(): Promise<void> {
    const { memory } = this;
    for (;;) {
      if (this.death) throw this.death;
      const seen = memory.serverBell();
      if (memory.ready) break;
      await memory.waitServerBell(seen);
    }
    this.hasStarted = true;
  }

  get dead(): WasmSandboxError | undefined {
    return this.death;
  }

  /** Whether it got as far as taking requests (it may have died since). */
  get started(): boolean {
    return this.hasStarted;
  }

  /**
   * Whether `exchange` may queue behind the requests in flight: it has no body to interleave with
   * theirs, they have sent all of theirs, there is room, and the worker has been on its current
   * request only briefly (a request that takes longer may be slow, or stuck).
   */
  canQueue(exchange: WorkerExchange): boolean {
    return this.inFlight.length > 0 && !this.death && !exchange.hasBody && this.inFlight.length < MAX_IN_FLIGHT
      && this.memory.busyFor() < QUEUE_BEHIND_MS && this.inFlight.every((e) => e.bodySent);
  }

  /** About how long a request queued now would wait for the worker: the ones ahead, at its recent pace. */
  backlogMs(): number {
    return this.inFlight.length * this.memory.serviceMs();
  }

  /** Sends a request; its result settles once the worker is done with it. */
  accept(exchange: WorkerExchange): void {
    if (exchange.finished) return;
    if (this.death) {
      exchange.fail(this.death);
      return;
    }
    const seq = this.nextSeq;
    // Claim slots are reused: a thread never holds more requests than it has slots.
    this.nextSeq = (seq + 1) % (CLAIM_SLOTS * 1024);
    this.inFlight.push(exchange);
    exchange.onResume = this.resumeDrain;
    // Read before the request goes out: whatever the worker answers rings after this.
    const seen = this.memory.serverBell();
    exchange.start(this, this.memory, seq);
    if (this.inFlight.length === 1) this.hold();
    else this.withdrawLater();
    if (!this.watching) void this.watch(seen);
  }

  /** While requests wait behind another, checks now and then that it has not turned out slow. */
  private withdrawLater(): void {
    if (this.withdrawTimer || this.death) return;
    this.withdrawTimer = setTimeout(() => {
      this.withdrawTimer = undefined;
      this.withdrawStale();
    }, WITHDRAW_AFTER_MS);
    this.withdrawTimer.unref();
  }

  /** Hands back the queued requests the worker has not started when the one ahead of them is slow. */
  private withdrawStale(): void {
    if (this.death) return;
    this.drain();
    const first = this.inFlight[0];
    if (first && performance.now() - first.since >= WITHDRAW_AFTER_MS) {
      const out: WorkerExchange[] = [];
      for (let i = this.inFlight.length - 1; i >= 1; i--) {
        const e = this.inFlight[i];
        if (this.memory.withdraw(e.seq)) {
          this.inFlight.splice(i, 1);
          e.unbind();
          out.unshift(e);
        }
      }
      if (out.length > 0) this.events.withdrew(this, out);
    }
    if (this.inFlight.length > 1) this.withdrawLater();
  }

  /**
   * `exchange` reached its deadline. Answers already waiting are read first: it may be done. If the
   * worker has not started it, it is withdrawn and fails alone; otherwise the thread is terminated
   * wherever the guest is, and the requests queued behind it are handed back.
   */
  expire(exchange: WorkerExchange, error: WasmSandboxError): void {
    this.drain();
    if (exchange.finished) return;
    const at = this.inFlight.indexOf(exchange);
    if (at < 0) {
      exchange.fail(error);
      return;
    }
    if (this.memory.withdraw(exchange.seq)) {
      this.inFlight.splice(at, 1);
      exchange.fail(error);
      this.settle();
      return;
    }
    void this.kill(error);
  }

  /** Stops the thread wherever it is, even inside a guest loop. */
  kill(reason: WasmSandboxError): Promise<void> {
    this.died(reason);
    // Whoever awaits the exit must not see the process end first.
    this.hold();
    void this.worker.terminate();
    return this.exited;
  }

  /**
   * Reads the worker's answers while requests are in flight, each time its bell has rung since
   * `seen`. Records are read on a ring only, never ahead of one: a whole answer waits for the ring
   * of its handler's return (see WorkerResponseStream), and both are taken together.
   */
  private async watch(seen: number): Promise<void> {
    this.watching = true;
    const { memory } = this;
    try {
      while (this.inFlight.length > 0 && !this.death) {
        await memory.waitServerBell(seen);
        seen = memory.serverBell();
        this.drain();
        for (const e of this.inFlight) e.roomMade();
      }
    } finally {
      this.watching = false;
    }
  }

  /** Passes the worker's records to the requests they belong to, as far as their clients keep up. */
  private drain(): void {
    const ring = this.memory.responses;
    const busy = this.inFlight.length > 0;
    let took = false;
    for (;;) {
      const current = this.inFlight[0];
      if (!current || current.paused) break;
      const record = ring.read();
      if (!record) break;
      took = true;
      if (current.apply(record)) this.inFlight.shift();
    }
    if (took) {
      this.memory.responseRoomMade();
      this.inFlight[0]?.flush();
    }
    if (busy) this.settle();
  }

  /** Tells the pool when the last request has gone (called when there was one). */
  private settle(): void {
    if (this.inFlight.length > 0 || this.death) return;
    this.letGo();
    this.events.idle(this);
  }

  /** Keeps the process alive while someone waits on this thread; idle threads never do. */
  private hold(): void {
    if (this.holds++ === 0) this.worker.ref();
  }

  private letGo(): void {
    if (--this.holds === 0) this.worker.unref();
  }

  /** `ready`, keeping the process alive meanwhile: for a caller that waits on it. */
  async readyHeld(): Promise<void> {
    this.hold();
    try {
      await this.ready;
    } finally {
      this.letGo();
    }
  }

  private died(error: WasmSandboxError): void {
    if (this.death) return;
    this.death = error;
    clearTimeout(this.withdrawTimer);
    // Requests it had not started go elsewhere, unless their body has begun to flow here (it cannot
    // be read twice); the one it was serving fails.
    const withdrawn: WorkerExchange[] = [];
    for (const e of this.inFlight.splice(0)) {
      if (!e.finished && !e.hasBody && this.memory.withdraw(e.seq)) {
        e.unbind();
        withdrawn.push(e);
      } else {
        e.fail(error);
      }
    }
    // Whatever waits on the server's bell (readiness, the watcher) wakes to see the death.
    this.memory.wakeServer();
    this.events.died(this, withdrawn);
  }
}
