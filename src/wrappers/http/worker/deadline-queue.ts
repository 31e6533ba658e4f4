/**
 * The deadlines of a server's requests. Every request gets the same timeout, so deadlines come in
 * the order requests do: one queue and one timer serve them all, where a timer per request would
 * cost a timer's creation and cancellation on every request of the server's thread.
 */

interface Entry<T> {
  readonly item: T;
  readonly since: number;
}

/** Above this many entries, ones already settled are swept out even from behind an unsettled one. */
const SWEEP_AT = 4096;

export class DeadlineQueue<T> {
  private readonly timeoutMs: number;
  private readonly settled: (item: T) => boolean;
  private readonly expire: (item: T, elapsedMs: number) => void;
  private entries: Entry<T>[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * `expire` is called for an item still unsettled `timeoutMs` after it was added; `settled` says
   * whether an item no longer needs its deadline.
   */
  constructor(timeoutMs: number, settled: (item: T) => boolean, expire: (item: T, elapsedMs: number) => void) {
    this.timeoutMs = timeoutMs;
    this.settled = settled;
    this.expire = expire;
  }

  add(item: T): void {
    this.dropSettled();
    this.entries.push({ item, since: performance.now() });
    if (this.entries.length - this.head > SWEEP_AT) this.sweep();
    this.arm();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.entries = [];
    this.head = 0;
  }

  private dropSettled(): void {
    while (this.head < this.entries.length && this.settled(this.entries[this.head].item)) this.head++;
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      // Under steady load the queue never quite empties: what is behind the head goes.
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** A request that runs long keeps its entry at the head: settled ones behind it are dropped here. */
  private sweep(): void {
    this.entries = this.entries.slice(this.head).filter((e) => !this.settled(e.item));
    this.head = 0;
  }

  private arm(): void {
    if (this.timer || this.head === this.entries.length) return;
    // Timers run on the event loop's cached clock and can fire a little early: never expire before its time.
    const wait = this.entries[this.head].since + this.timeoutMs - performance.now();
    this.timer = setTimeout(() => this.fire(), Math.max(1, Math.ceil(wait)));
    // The requests themselves keep the server's process alive, not their deadlines.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const now = performance.now();
    this.dropSettled();
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head];
      if (!this.settled(entry.item)) {
        const elapsed = now - entry.since;
        if (elapsed < this.timeoutMs) break;
        this.expire(entry.item, elapsed);
      }
      this.head++;
    }
    this.dropSettled();
    this.arm();
  }
}
