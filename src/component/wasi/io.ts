/**
 * wasi:io: error, poll and streams. Streams are thin resource objects over host-side sources and
 * sinks (files, stdio, HTTP bodies) defined by the interfaces that create them; everything here is
 * synchronous, so a "blocking" call either completes at once or sleeps in slices that notice the
 * call's deadline.
 */
import { Trap, WasmSandboxError } from '../../errors.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { sleepMs } from '../../host/sleep.ts';
import { guardClass, guardFunctions, type HostState } from './host-state.ts';

/** Where an input stream's bytes come from. */
export interface ByteSource {
  /** Up to `len` bytes available now; an empty array when none are yet; undefined at the end. */
  read(len: number): Uint8Array | undefined;
  /** Whether `read` would return something (data or the end) without waiting. */
  ready(): boolean;
  /** Releases host resources; called once, when the guest drops the stream. */
  close?(): void;
  /** Waits up to `ms` for something to change (see Readiness.block). */
  block?(ms: number): void;
}

/** Where an output stream's bytes go. */
export interface ByteSink {
  write(bytes: Uint8Array): void;
  /** Bytes that may be written now; the sink stays writable while this is positive. */
  capacity(): number;
  /** Set once the sink can take no more (the stream then reports `closed`). */
  readonly closed?: boolean;
  close?(): void;
}

/** What a pollable waits for. */
export interface Readiness {
  ready(): boolean;
  /** Milliseconds until it is certainly ready (timers), or Infinity when unknown. */
  waitMs(): number;
  /** Advances time instead of sleeping (virtual clocks); returns true when it did. */
  skip?(): boolean;
  /**
   * Waits up to `ms`, returning early when the readiness may have changed (sockets). Sources that
   * have it can become ready without a known time, so waiting on them with no deadline is no hang.
   */
  block?(ms: number): void;
}

const ALWAYS_READY: Readiness = { ready: () => true, waitMs: () => 0 };

export const DEFAULT_CHUNK = 64 * 1024;

/** The stream-error a failed operation reports. */
export type StreamError = { tag: 'closed' } | { tag: 'last-operation-failed'; val: object };

/** The host-side face of the wasi:io classes, which the other interfaces construct. */
export interface Io {
  readonly Pollable: new (on?: Readiness) => object;
  readonly InputStream: new (source: ByteSource) => object;
  readonly OutputStream: new (sink: ByteSink) => object;
  /** What a pollable waits on. */
  pollableReadiness(pollable: object): Readiness;
  /** Resolves once one of `list` is ready, checking deadlines between slices. */
  waitAsync(list: Readiness[]): Promise<void>;
  readonly interfaces: Record<string, Record<string, unknown>>;
}

export function createIo(state: HostState): Io {
  class IoError {
    readonly message: string;
    constructor(message: string) {
      this.message = message;
    }
    toDebugString(): string {
      return this.message;
    }
  }

  class Pollable {
    readonly #on: Readiness;
    constructor(on: Readiness = ALWAYS_READY) {
      this.#on = on;
    }
    ready(): boolean {
      return this.#on.ready();
    }
    block(): void {
      waitFor([this.#on]);
    }
    static on(p: Pollable): Readiness {
      return p.#on;
    }
  }

  /**
   * One step of a wait on `list`: undefined once one is ready, else the slice to sleep (0 after a
   * virtual clock moved) and what can block for it. Slices are short so deadlines are noticed.
   */
  function nextWait(list: Readiness[]): { ms: number; blocker: Readiness | undefined } | undefined {
    if (list.some((p) => p.ready())) return undefined;
    if (list.some((p) => p.skip?.() === true)) return { ms: 0, blocker: undefined };
    const wait = Math.min(...list.map((p) => p.waitMs()));
    const budget = state.options.remainingMs();
    const blocker = list.find((p) => p.block !== undefined);
    if (wait === Infinity && budget === Infinity && blocker === undefined) {
      state.stop(new Trap('host-error', 'wasi:io/poll: waiting on pollables that can never become ready'));
    }
    return { ms: Math.max(1, Math.min(wait, budget, 50)), blocker };
  }

  /** Waits until one of `list` is ready, blocking the thread (preview2's synchronous poll). */
  function waitFor(list: Readiness[]): void {
    state.interrupt();
    for (let step = nextWait(list); step !== undefined; step = nextWait(list)) {
      if (step.ms > 0) {
        if (step.blocker?.block !== undefined) step.blocker.block(step.ms);
        else sleepMs(step.ms);
      }
      state.interrupt();
    }
  }

  /** The same wait without blocking the thread, for WASI 0.3's async functions. */
  async function waitAsync(list: Readiness[]): Promise<void> {
    state.interrupt();
    for (let step = nextWait(list); step !== undefined; step = nextWait(list)) {
      if (step.ms > 0) await delay(step.ms);
      // An async wait outlives nothing: once the guest is stopped (its call failed), it ends too.
      state.check();
      state.interrupt();
    }
  }

  function poll(list: Pollable[]): Uint32Array {
    if (list.length === 0) state.stop(new Trap('host-error', 'wasi:io/poll: poll called with no pollables'));
    const on = list.map((p) => Pollable.on(p));
    waitFor(on);
    const ready: number[] = [];
    for (let i = 0; i < on.length; i++) if (on[i].ready()) ready.push(i);
    return Uint32Array.from(ready);
  }

  /** The stream-error for a failed host operation; limits and stops end the guest instead. */
  function failed(err: unknown): StreamError {
    if (state.stoppedBy !== undefined) throw err;
    if (err instanceof WasmSandboxError) state.stop(err);
    return { tag: 'last-operation-failed', val: new IoError(err instanceof Error ? err.message : String(err)) };
  }

  function readinessOf(source: ByteSource): Readiness {
    const on: Readiness = { ready: () => source.ready(), waitMs: () => (source.ready() ? 0 : Infinity) };
    if (source.block !== undefined) on.block = (ms) => source.block?.(ms);
    return on;
  }

  class InputStream {
    #source: ByteSource | undefined;
    constructor(source: ByteSource) {
      this.#source = source;
    }
    #open(): ByteSource {
      if (!this.#source) throw { tag: 'closed' } satisfies StreamError;
      return this.#source;
    }
    #read(len: bigint, blocking: boolean): Uint8Array {
      const source = this.#open();
      const n = Number(len > BigInt(DEFAULT_CHUNK) ? BigInt(DEFAULT_CHUNK) : len);
      if (n === 0) return new Uint8Array(0);
      if (blocking && !source.ready()) waitFor([readinessOf(source)]);
      let data: Uint8Array | undefined;
      try {
        data = source.read(n);
      } catch (err) {
        throw failed(err);
      }
      if (data === undefined) throw { tag: 'closed' } satisfies StreamError;
      return data;
    }
    read(len: bigint): Uint8Array {
      return this.#read(len, false);
    }
    blockingRead(len: bigint): Uint8Array {
      return this.#read(len, true);
    }
    skip(len: bigint): bigint {
      return BigInt(this.#read(len, false).length);
    }
    blockingSkip(len: bigint): bigint {
      return BigInt(this.#read(len, true).length);
    }
    subscribe(): Pollable {
      const source = this.#source;
      return new Pollable(source ? readinessOf(source) : ALWAYS_READY);
    }
    [Symbol.dispose](): void {
      this.#source?.close?.();
      this.#source = undefined;
    }
    static source(s: InputStream): ByteSource | undefined {
      return s.#source;
    }
  }

  class OutputStream {
    #sink: ByteSink | undefined;
    constructor(sink: ByteSink) {
      this.#sink = sink;
    }
    #open(): ByteSink {
      const sink = this.#sink;
      if (!sink || sink.closed) throw { tag: 'closed' } satisfies StreamError;
      return sink;
    }
    #write(bytes: Uint8Array): void {
      const sink = this.#open();
      state.work.add(bytes.length);
      try {
        sink.write(bytes);
      } catch (err) {
        throw failed(err);
      }
    }
    checkWrite(): bigint {
      return BigInt(Math.max(0, this.#open().capacity()));
    }
    write(contents: Uint8Array): void {
      this.#write(contents);
    }
    blockingWriteAndFlush(contents: Uint8Array): void {
      this.#write(contents);
    }
    flush(): void {
      this.#open();
    }
    blockingFlush(): void {
      this.#open();
    }
    subscribe(): Pollable {
      return new Pollable();
    }
    writeZeroes(len: bigint): void {
      this.#write(this.#zeroes(len));
    }
    blockingWriteZeroesAndFlush(len: bigint): void {
      this.#write(this.#zeroes(len));
    }
    /** The zeroes are made on the host: no more than check-write allows, as for any write. */
    #zeroes(len: bigint): Uint8Array {
      if (len > BigInt(Math.max(0, this.#open().capacity()))) throw failed(new Error(`write-zeroes of ${len} bytes is more than check-write allows`));
      state.work.add(Number(len));
      return new Uint8Array(Number(len));
    }
    splice(src: InputStream, len: bigint): bigint {
      const data = src.read(len);
      this.#write(data);
      return BigInt(data.length);
    }
    blockingSplice(src: InputStream, len: bigint): bigint {
      const data = src.blockingRead(len);
      this.#write(data);
      return BigInt(data.length);
    }
    [Symbol.dispose](): void {
      this.#sink?.close?.();
      this.#sink = undefined;
    }
  }

  for (const cls of [IoError, Pollable, InputStream, OutputStream]) guardClass(cls, state);

  return {
    Pollable,
    InputStream,
    OutputStream,
    pollableReadiness: (p) => Pollable.on(p as Pollable),
    waitAsync,
    interfaces: {
      'wasi:io/error': { Error: IoError },
      'wasi:io/poll': guardFunctions({ Pollable, poll }, state),
      'wasi:io/streams': { InputStream, OutputStream },
    },
  };
}
