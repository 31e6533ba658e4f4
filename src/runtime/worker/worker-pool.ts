/**
 * Warm worker threads, so that creating an instance does not pay a thread start (tens of
 * milliseconds). Threads are kept per set of V8 limits, since those are fixed when a thread starts.
 */
import { SandboxClosed, type WasmSandboxError } from '../../errors.ts';
import { limitsKey, type WorkerLimits } from './worker-limits.ts';
import { WorkerThread } from './worker-thread.ts';

/** Beyond this many distinct limit sets, the least recently used one loses its warm threads. */
const MAX_WARM_PROFILES = 4;
/**
 * A taken thread is replaced only if it has not come back after this pause: an instance that is
 * created, used and destroyed within it hands its thread back, and no thread is started for nothing.
 */
const REFILL_DELAY_MS = 25;

export class WorkerPool {
  private readonly size: number;
  /** Idle threads by limits key, in least-recently-used order of keys. */
  private readonly idle = new Map<string, WorkerThread[]>();
  private readonly live = new Set<WorkerThread>();
  private readonly refills = new Map<string, ReturnType<typeof setTimeout>>();
  private closed = false;

  constructor(size: number) {
    this.size = size;
  }

  /** Starts threads until `size` are idle for these limits. */
  warm(limits: WorkerLimits): void {
    if (this.closed) return;
    const key = limitsKey(limits);
    const list = this.idle.get(key) ?? [];
    this.idle.delete(key);
    this.idle.set(key, list);
    while (list.length < this.size) list.push(this.spawn(limits));
    for (const [other, threads] of this.idle) {
      if (this.idle.size <= MAX_WARM_PROFILES) break;
      this.idle.delete(other);
      for (const t of threads) void t.kill(new SandboxClosed());
    }
  }

  /** A started thread with these limits, warm if one is idle. */
  async acquire(limits: WorkerLimits): Promise<WorkerThread> {
    if (this.closed) throw new SandboxClosed();
    const key = limitsKey(limits);
    const list = this.idle.get(key);
    let thread: WorkerThread | undefined;
    if (list?.length) {
      const at = Math.max(0, list.findIndex((t) => t.isReady));
      thread = list.splice(at, 1)[0];
    }
    thread ??= this.spawn(limits);
    thread.hold();
    try {
      await thread.ready;
    } finally {
      thread.letGo();
    }
    // Counted from here, not from when the thread was taken: a start that outlasts the pause must not
    // be mistaken for an instance that kept its thread.
    this.refillSoon(limits);
    return thread;
  }

  /** Takes back a thread that holds no instance; kept warm if there is room, else stopped. */
  release(thread: WorkerThread): void {
    if (thread.dead) return;
    const list = this.idle.get(thread.key);
    if (this.closed || !list || this.size === 0) {
      void thread.kill(new SandboxClosed());
      return;
    }
    if (list.length >= this.size) {
      // A started thread is worth more than one still starting: the next instance gets it without waiting.
      const starting = list.findIndex((t) => !t.isReady);
      if (starting < 0) {
        void thread.kill(new SandboxClosed());
        return;
      }
      void list.splice(starting, 1)[0].kill(new SandboxClosed());
    }
    list.push(thread);
    if (list.length >= this.size) this.cancelRefill(thread.key);
  }

  /** Stops a thread that cannot be reused (its guest was cut off mid-call); a replacement follows. */
  discard(thread: WorkerThread, reason: WasmSandboxError): void {
    void thread.kill(reason);
    this.refillSoon(thread.limits);
  }

  private refillSoon(limits: WorkerLimits): void {
    const key = limitsKey(limits);
    if (this.closed || this.refills.has(key)) return;
    const timer = setTimeout(() => {
      this.refills.delete(key);
      this.warm(limits);
    }, REFILL_DELAY_MS);
    timer.unref();
    this.refills.set(key, timer);
  }

  private cancelRefill(key: string): void {
    clearTimeout(this.refills.get(key));
    this.refills.delete(key);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.refills.values()) clearTimeout(timer);
    this.refills.clear();
    const all = [...this.live];
    this.idle.clear();
    await Promise.all(all.map((t) => t.kill(new SandboxClosed())));
  }

  private spawn(limits: WorkerLimits): WorkerThread {
    const thread = new WorkerThread(limits);
    this.live.add(thread);
    thread.onDeath(() => {
      this.live.delete(thread);
      const list = this.idle.get(thread.key);
      const at = list ? list.indexOf(thread) : -1;
      if (at >= 0) list!.splice(at, 1);
    });
    return thread;
  }
}
