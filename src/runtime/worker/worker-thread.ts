/**
 * One worker thread and its channel, seen from the main thread: starting it, keeping it from holding
 * the process open while idle, and turning its death (termination, crash, heap exhaustion) into a
 * typed error for whoever was waiting on it.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import { ResourceLimitExceeded, Trap, type WasmSandboxError } from '../../errors.ts';
import { shareEpochClock } from '../limits/epoch-clock.ts';
import { THREAD_EXEC_ARGV } from '../thread-exec-argv.ts';
import { Channel, REPLY_READY } from './channel.ts';
import { limitsKey, type WorkerLimits } from './worker-limits.ts';

const MiB = 1024 * 1024;

/** What worker-entry.ts receives as its workerData. */
export interface WorkerThreadData {
  channel: SharedArrayBuffer;
  port: MessagePort;
}

// Run from source the entry is TypeScript, from dist JavaScript: follow whatever this file is.
const ENTRY = new URL(`./worker-entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

export class WorkerThread {
  readonly channel = new Channel();
  readonly limits: WorkerLimits;
  readonly key: string;
  /** Settles once the thread sits waiting for its first command. */
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  /**
   * Where instantiate messages go. Our own channel's port, not the worker's built-in one: the thread
   * reads it with receiveMessageOnPort, which Deno accepts only for a MessagePort it was handed.
   */
  private readonly port: MessagePort;
  private holds = 0;
  private started = false;
  private death: WasmSandboxError | undefined;
  private exited: Promise<void>;
  private readonly deathListeners = new Set<(error: WasmSandboxError) => void>();

  constructor(limits: WorkerLimits) {
    this.limits = limits;
    this.key = limitsKey(limits);
    const { port1, port2 } = new (process.getBuiltinModule('node:worker_threads').MessageChannel)();
    this.port = port1;
    this.port.unref();
    const workerData: WorkerThreadData = { channel: this.channel.buffer, port: port2 };
    ({ worker: this.worker, exited: this.exited } = startGuestThread(ENTRY, 'wasm-sandbox', workerData, limits, (error) => this.died(error), [port2]));
    // Not held while starting: a spare thread warming up must not keep the process alive; whoever
    // awaits `ready` holds it.
    this.ready = this.channel.waitAsync(0, () => this.death !== undefined).then((turn) => {
      this.started = turn === REPLY_READY;
      if (turn !== REPLY_READY) throw this.death ?? new Trap('unknown', `the worker thread started in an unexpected state (${turn})`);
    });
    // Nobody may be awaiting `ready` (a pool thread warming up); its failure is reported through `death`.
    this.ready.catch(() => {});
  }

  get dead(): WasmSandboxError | undefined {
    return this.death;
  }

  get isReady(): boolean {
    return this.started && !this.death;
  }

  /** Queues a message the thread reads synchronously when the next command tells it to. */
  post(message: unknown): void {
    this.port.postMessage(message);
  }

  /** Keeps the process alive while the main thread waits on this thread; idle threads never do. */
  hold(): void {
    if (this.holds++ === 0) this.worker.ref();
  }

  letGo(): void {
    if (--this.holds === 0) this.worker.unref();
  }

  onDeath(listener: (error: WasmSandboxError) => void): () => void {
    this.deathListeners.add(listener);
    return () => this.deathListeners.delete(listener);
  }

  /** Stops the thread wherever it is, even inside a guest loop; waiters see `reason`. */
  kill(reason: WasmSandboxError): Promise<void> {
    const first = !this.death;
    this.died(reason);
    if (first) {
      // Whoever awaits the exit must not see the process end first: hold the thread until it is gone.
      this.hold();
      void this.worker.terminate();
      this.port.close();
      void this.exited.then(() => this.letGo());
    }
    return this.exited;
  }

  private died(error: WasmSandboxError): void {
    if (this.death) return;
    this.death = error;
    // A main-thread waiter sleeps on the turn word; waking it lets it see the death.
    this.channel.wake();
    for (const listener of this.deathListeners) listener(error);
    this.deathListeners.clear();
  }
}

/** What a worker thread's 'error' event means for whoever was waiting on it. */
/**
 * Starts a thread that runs guests under `limits`: with only the flags its entry needs, the main
 * thread's live environment (a guest's inherited variables are read there), and unreferenced, so an
 * idle thread never keeps the process alive. Its death (crash, heap exhaustion, exit) reaches `died`
 * as a typed error; `exited` settles when it is gone.
 */
export function startGuestThread(entry: URL, name: string, workerData: unknown, limits: WorkerLimits, died: (error: WasmSandboxError) => void, transferList: MessagePort[] = []): { worker: Worker; exited: Promise<void> } {
  // Taken on the first thread: importing the library (the HTTP wrapper reaches this file) should not load it.
  const threads = process.getBuiltinModule('node:worker_threads');
  // Guests on the thread read the main thread's deadline clock word: it must be shared before the thread starts.
  shareEpochClock();
  const worker = new threads.Worker(entry, { name, workerData, transferList, execArgv: THREAD_EXEC_ARGV, env: threads.SHARE_ENV, resourceLimits: { ...limits } });
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (err) => died(workerCrashError(err, limits)));
  worker.on('exit', (code) => died(new Trap('unknown', `the worker thread exited unexpectedly (exit code ${code})`)));
  return { worker, exited };
}

function workerCrashError(err: Error, limits: WorkerLimits): WasmSandboxError {
  if ((err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
    const max = (limits.maxOldGenerationSizeMb ?? 0) * MiB;
    return new ResourceLimitExceeded('memory', max, max, `the worker thread ran out of JavaScript heap and was stopped: ${err.message}`);
  }
  return new Trap('unknown', `the worker thread crashed: ${err.message}`, { cause: err });
}
