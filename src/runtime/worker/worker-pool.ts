/**
 * Warm worker threads, so that creating an instance does not pay a thread start (tens of
 * milliseconds). Threads are kept per set of V8 limits, since those are fixed when a thread starts.
 */
import { SandboxClosed, type WasmSandboxError } from '../../errors.ts';
import { limitsKey, type WorkerLimits } from './worker-limits.ts';
import { WorkerThread } from './worker-thread.ts';

/** Beyond this many distinct limit sets, the least recently used one loses its warm threads. */
const MAX_WARM_PROFILES = 4;

export class WorkerPool {
  private readonly size: number;
  /** Idle threads by limits key, in least-recently-used order of keys. */
  private readonly idle = new Map<string, WorkerThread[]>();
  private readonly live = new Set<WorkerThread>();
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
    // Replace what was taken now, so that the next instance finds a thread ready too.
    this.warm(limits);
    thread.hold();
    try {
      await thread.ready;
    } finally {
      thread.letGo();
    }
    return thread;
  }

  /** Takes back a thread that holds no instance; kept warm if there is room, else stopped. */
  release(thread: WorkerThread): void {
    if (thread.dead) return;
    const list = this.idle.get(thread.key);
    if (this.closed || !list || list.length >= this.size) {
      void thread.kill(new SandboxClosed());
      return;
    }
    list.push(thread);
  }

  /** Stops a thread that cannot be reused (its guest was cut off mid-call) and starts a replacement. */
  discard(thread: WorkerThread, reason: WasmSandboxError): void {
    void thread.kill(reason);
    this.warm(thread.limits);
  }

  async close(): Promise<void> {
    this.closed = true;
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
