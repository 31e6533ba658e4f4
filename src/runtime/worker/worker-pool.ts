/**
 * Warm worker threads, so that creating an instance does not pay a thread start (around a hundred
 * milliseconds of CPU, mostly loading the worker's modules). Threads are kept per set of V8 limits,
 * since those are fixed when a thread starts.
 *
 * A thread start costs far more CPU than a whole short-lived instance, so the pool never trades a
 * returning thread for a new one: threads that come back beyond the pool size are kept while they
 * are in use and only stopped after a spell of idleness. Under steady concurrency the number of
 * threads settles at what the load needs, and no thread is started per request.
 */
import { availableParallelism } from 'node:os';
import { SandboxClosed, type WasmSandboxError } from '../../errors.ts';
import { limitsKey, type WorkerLimits } from './worker-limits.ts';
import { WorkerThread } from './worker-thread.ts';

/** Beyond this many distinct limit sets, the least recently used one loses its warm threads. */
const MAX_WARM_PROFILES = 4;
/**
 * A taken thread is replaced only if it has not come back after a pause: an instance that is
 * created, used and destroyed within it hands its thread back, and no thread is started for nothing.
 * The pause is as long as a thread start takes lately, and at least this: waiting that long for the
 * thread costs at most what starting another would (the ski-rental bound), and on a loaded machine,
 * where every instance takes longer, the pool does not start threads that only add to the load.
 */
const MIN_REFILL_DELAY_MS = 25;
/** A start slowed by a passing hiccup must not hold replacements back for long. */
const MAX_REFILL_DELAY_MS = 1000;
/**
 * Threads beyond the pool size are stopped once they have been idle this long: long enough to ride
 * out the gaps of bursty traffic, short enough to give the memory back soon after a peak.
 */
const SURPLUS_IDLE_MS = 5000;
/**
 * Spare threads start this many at a time. Started all at once they share the CPU and all become
 * ready late, so the first instance would wait for the whole pool; one after another, the first
 * spare is ready after one start.
 */
const PARALLEL_STARTS = Math.max(1, availableParallelism());

interface IdleThread {
  readonly thread: WorkerThread;
  /** When it came back (or was started): surplus threads idle the longest are stopped first. */
  readonly since: number;
}

/** The threads for one set of limits. */
interface Profile {
  readonly key: string;
  readonly limits: WorkerLimits;
  /** Most recently returned last: taking from the end reuses the thread whose code is warmest. */
  readonly idle: IdleThread[];
  /** Threads out with an instance, and since when it was created (undefined until then). */
  readonly lent: Map<WorkerThread, number | undefined>;
  /** Spares wanted but not started yet, waiting for a free start slot. */
  queued: number;
  refill?: ReturnType<typeof setTimeout>;
  trim?: ReturnType<typeof setTimeout>;
}

export class WorkerPool {
  private readonly size: number;
  /** In least-recently-used order. */
  private readonly profiles = new Map<string, Profile>();
  private readonly live = new Set<WorkerThread>();
  private closed = false;
  /** Wall time from start to ready of the latest thread starts, smoothed. */
  private startMs = MIN_REFILL_DELAY_MS;
  /** Threads started and not yet ready, of all profiles. */
  private starting = 0;

  constructor(size: number) {
    this.size = size;
  }

  /** Starts threads until `size` are idle for these limits. */
  warm(limits: WorkerLimits): void {
    if (this.closed) return;
    const profile = this.profile(limits);
    profile.queued = Math.max(profile.queued, this.size - profile.idle.length);
    this.startQueued();
  }

  /** A started thread with these limits, warm if one is idle. */
  async acquire(limits: WorkerLimits): Promise<WorkerThread> {
    if (this.closed) throw new SandboxClosed();
    const profile = this.profile(limits);
    const { idle } = profile;
    let thread: WorkerThread | undefined;
    if (idle.length) {
      // A started thread if there is one, else the one started earliest (spares are added at the front):
      // either beats starting another.
      const ready = idle.findLastIndex((t) => t.thread.isReady);
      thread = idle.splice(ready < 0 ? idle.length - 1 : ready, 1)[0].thread;
    }
    if (!thread) {
      // Whoever waits goes first: this start takes the place of a queued spare.
      if (profile.queued > 0) profile.queued--;
      thread = this.spawn(limits);
    }
    profile.lent.set(thread, undefined);
    thread.hold();
    try {
      await thread.ready;
    } finally {
      thread.letGo();
    }
    return thread;
  }

  /**
   * The instance on `thread` is created. The pause before replacing the thread counts from here, not
   * from when it was taken: a thread start, or a first instantiation on a fresh thread (its code is
   * still cold), can outlast the pause and must not be mistaken for an instance that kept its thread.
   */
  settled(thread: WorkerThread): void {
    const profile = this.profiles.get(thread.key);
    if (!profile?.lent.has(thread)) return;
    profile.lent.set(thread, performance.now());
    this.refillSoon(profile);
  }

  /** Takes back a thread that holds no instance; kept while the load may need it, else stopped. */
  release(thread: WorkerThread): void {
    if (thread.dead) return;
    const profile = this.profiles.get(thread.key);
    profile?.lent.delete(thread);
    if (this.closed || !profile || this.size === 0) {
      void thread.kill(new SandboxClosed());
      return;
    }
    profile.idle.push({ thread, since: performance.now() });
    if (profile.idle.length > this.size) this.trimLater(profile);
  }

  /** Stops a thread that cannot be reused (its guest was cut off mid-call); a replacement follows. */
  discard(thread: WorkerThread, reason: WasmSandboxError): void {
    void thread.kill(reason);
    const profile = this.profiles.get(thread.key);
    if (profile) this.refillSoon(profile);
  }

  /**
   * Tops the idle threads up to `size`, counting a thread lent less than the pause ago as one that
   * will come back: under concurrency many threads are out at any moment, each only briefly.
   */
  private refill(profile: Profile): void {
    profile.refill = undefined;
    if (this.closed || this.profiles.get(profile.key) !== profile) return;
    const now = performance.now();
    let spares = profile.idle.length + profile.queued;
    let nextKept = Infinity;
    const pause = this.refillDelay();
    for (const since of profile.lent.values()) {
      if (since === undefined || now - since < pause) {
        spares++;
        if (since !== undefined) nextKept = Math.min(nextKept, since + pause);
      }
    }
    if (spares < this.size) {
      profile.queued += this.size - spares;
      this.startQueued();
    }
    // A thread out now may turn out to be kept; refillSoon watches only while the spares fall short.
    if (nextKept !== Infinity) this.refillSoon(profile, nextKept - now);
  }

  /** Starts queued spares while start slots are free, for the most recently used limits first. */
  private startQueued(): void {
    if (this.closed) return;
    for (const profile of [...this.profiles.values()].reverse()) {
      // Threads that came back meanwhile may have made the queued spares unnecessary.
      if (profile.idle.length >= this.size) profile.queued = 0;
      for (; profile.queued > 0 && this.starting < PARALLEL_STARTS; profile.queued--) {
        // At the cold end: a thread that has run instances before is the better one to hand out next.
        profile.idle.unshift({ thread: this.spawn(profile.limits), since: performance.now() });
      }
    }
  }

  private refillDelay(): number {
    return Math.min(MAX_REFILL_DELAY_MS, Math.max(MIN_REFILL_DELAY_MS, this.startMs));
  }

  private refillSoon(profile: Profile, delay = this.refillDelay()): void {
    if (this.closed || profile.refill || this.size === 0 || profile.idle.length + profile.queued >= this.size) return;
    profile.refill = setTimeout(() => this.refill(profile), Math.max(1, delay));
    profile.refill.unref();
  }

  /** Stops the surplus threads idle the longest, keeping `size`. */
  private trim(profile: Profile): void {
    profile.trim = undefined;
    if (this.closed || this.profiles.get(profile.key) !== profile) return;
    const cutoff = performance.now() - SURPLUS_IDLE_MS;
    const { idle } = profile;
    for (let i = 0; i < idle.length && idle.length > this.size;) {
      if (idle[i].since <= cutoff) void idle.splice(i, 1)[0].thread.kill(new SandboxClosed());
      else i++;
    }
    if (idle.length > this.size) this.trimLater(profile, Math.min(...idle.map((t) => t.since)) - cutoff);
  }

  private trimLater(profile: Profile, delay = SURPLUS_IDLE_MS): void {
    if (profile.trim) return;
    profile.trim = setTimeout(() => this.trim(profile), Math.max(1, delay));
    profile.trim.unref();
  }

  /** The profile for these limits, made the most recently used; the least recently used beyond the limit is dropped. */
  private profile(limits: WorkerLimits): Profile {
    const key = limitsKey(limits);
    let profile = this.profiles.get(key);
    if (profile) {
      this.profiles.delete(key);
    } else {
      profile = { key, limits, idle: [], lent: new Map(), queued: 0 };
    }
    this.profiles.set(key, profile);
    for (const [other, dropped] of this.profiles) {
      if (this.profiles.size <= MAX_WARM_PROFILES) break;
      this.profiles.delete(other);
      this.clearTimers(dropped);
      // Its lent threads find no profile when they come back, and are stopped then.
      for (const t of dropped.idle) void t.thread.kill(new SandboxClosed());
    }
    return profile;
  }

  private clearTimers(profile: Profile): void {
    clearTimeout(profile.refill);
    clearTimeout(profile.trim);
    profile.refill = profile.trim = undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const profile of this.profiles.values()) this.clearTimers(profile);
    this.profiles.clear();
    const all = [...this.live];
    await Promise.all(all.map((t) => t.kill(new SandboxClosed())));
  }

  private spawn(limits: WorkerLimits): WorkerThread {
    const thread = new WorkerThread(limits);
    const started = performance.now();
    this.starting++;
    const done = (ok: boolean) => {
      this.starting--;
      if (ok) this.startMs = (this.startMs + performance.now() - started) / 2;
      this.startQueued();
    };
    thread.ready.then(() => done(true), () => done(false));
    this.live.add(thread);
    thread.onDeath(() => {
      this.live.delete(thread);
      const profile = this.profiles.get(thread.key);
      if (!profile) return;
      profile.lent.delete(thread);
      const at = profile.idle.findIndex((t) => t.thread === thread);
      if (at >= 0) profile.idle.splice(at, 1);
    });
    return thread;
  }
}
