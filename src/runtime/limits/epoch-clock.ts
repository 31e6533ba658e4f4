/**
 * A coarse monotonic clock in shared memory, so that starting a guest call with a deadline costs a load
 * instead of a clock read (the idea of wasmtime's epoch interruption). A ticker thread writes the time
 * (milliseconds of `monotonicMs()`) every TICK_MS while calls are being made; a call's deadline is that
 * word plus its timeout plus one tick, and the checkpoints the instrumenter already emits compare the
 * exact clock against it, so a running guest is still stopped within a checkpoint of its deadline even
 * when the ticker sleeps.
 *
 * The word is 0 while no ticker keeps it fresh (not started yet, asleep because no call was entered for
 * IDLE_TICKS ticks, or threads unavailable): readers then read the exact clock and wake the ticker,
 * which is started only after START_AFTER such reads. It never keeps the process alive, and sleeps
 * without a timeout while no call is made.
 *
 * The buffer is process-wide: the main thread hands it to every worker thread started after this
 * module loads (Node's environment data), so guests on worker threads read the same word. Only the
 * main thread starts the ticker: one started by a worker thread would die with it, leaving a word
 * that looks fresh but no longer moves.
 */
import { monotonicMs } from '../monotonic.ts';
import { THREAD_EXEC_ARGV } from '../thread-exec-argv.ts';

/** How often the ticker refreshes the clock; a deadline may start counting up to this much early, so it gets this much extra. */
export const TICK_MS = 2;
/** Ticks without any call entered after which the ticker sleeps until the next one. */
const IDLE_TICKS = 50;
/**
 * Exact clock reads before a thread is started to spare them: a thread costs more than a few calls
 * save (a command run once, a script that makes one call never start one).
 */
const START_AFTER = 100;
let exactReads = 0;

// Int32 slots after the Float64 clock word.
const STATE = 2;
const SEEN = 3;
const SLEEP = 4;
const NONE = 0;
const RUNNING = 1;
const IDLE = 2;
const STARTING = 3;
const FAILED = 4;
const BYTES = 24;

const ENVIRONMENT_KEY = 'wasm-sandbox:epoch-clock';
/**
 * The shared buffer is made on the first call that finds the word stale, not at import, and
 * node:worker_threads is taken only to hand the buffer to a thread or to start the ticker: a program
 * that imports the library and makes a few calls loads no thread machinery. Until then the word is
 * a private 0, which sends every reader to `wake()`.
 */
let buffer: SharedArrayBuffer | undefined;
/** Set on a guest thread: only the main thread starts the ticker. */
let onGuestThread = false;
/** The clock word itself, for the end of a call to read without a call (0: not fresh, see above). */
export let epochClock: Float64Array<ArrayBufferLike> = new Float64Array(1);
let clock = epochClock;
let control: Int32Array<ArrayBufferLike> = new Int32Array(BYTES / 4);

function bind(shared: SharedArrayBuffer): void {
  buffer = shared;
  epochClock = clock = new Float64Array(shared, 0, 1);
  control = new Int32Array(shared);
}

function attach(): SharedArrayBuffer {
  if (!buffer) bind(new SharedArrayBuffer(BYTES));
  return buffer!;
}

/** Called on the main thread before a guest thread is started, so that the thread inherits the clock word. */
export function shareEpochClock(): void {
  process.getBuiltinModule('node:worker_threads').setEnvironmentData(ENVIRONMENT_KEY, attach());
}

/** Called first by a guest thread's entry: its calls read the main thread's word, and it starts no ticker. */
export function adoptEpochClock(): void {
  onGuestThread = true;
  const inherited: unknown = process.getBuiltinModule('node:worker_threads').getEnvironmentData(ENVIRONMENT_KEY);
  if (inherited instanceof SharedArrayBuffer) bind(inherited);
}

// CommonJS, evaluated as the ticker thread's whole program: nothing of the package is loaded there.
const TICKER = `'use strict';
const { workerData } = require('node:worker_threads');
const clock = new Float64Array(workerData, 0, 1);
const control = new Int32Array(workerData);
let quiet = 0;
Atomics.store(control, ${STATE}, ${RUNNING});
for (;;) {
  clock[0] = Number(process.hrtime.bigint()) / 1e6;
  if (Atomics.exchange(control, ${SEEN}, 0) !== 0) quiet = 0;
  else if (++quiet >= ${IDLE_TICKS}) {
    clock[0] = 0;
    Atomics.store(control, ${STATE}, ${IDLE});
    // A reader that finds the clock 0 swaps the state back to running and notifies.
    Atomics.wait(control, ${STATE}, ${IDLE});
    quiet = 0;
    continue;
  }
  Atomics.wait(control, ${SLEEP}, 0, ${TICK_MS});
}`;

/**
 * The time to start a call at: the shared word when it is fresh (a load and a store), else the exact
 * clock, after waking or starting the ticker so that the next calls find the word fresh.
 */
export function epochNow(): number {
  const now = clock[0];
  if (now !== 0) {
    control[SEEN] = 1;
    return now;
  }
  return wake();
}

/**
 * The time for accounting rather than deadlines: the word when the ticker keeps it fresh (calls with
 * deadlines are being made), else the exact clock. Never starts the ticker.
 */
export function accountingNow(): number {
  return clock[0] || monotonicMs();
}

function wake(): number {
  attach();
  control[SEEN] = 1;
  const state = Atomics.load(control, STATE);
  if (state === IDLE) {
    if (Atomics.compareExchange(control, STATE, IDLE, RUNNING) === IDLE) Atomics.notify(control, STATE);
  } else if (state === NONE && !onGuestThread && ++exactReads >= START_AFTER && Atomics.compareExchange(control, STATE, NONE, STARTING) === NONE) {
    start();
  }
  return monotonicMs();
}

function start(): void {
  try {
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    const worker = new Worker(TICKER, { eval: true, workerData: attach(), execArgv: THREAD_EXEC_ARGV, stdout: true, stderr: true });
    worker.unref();
    // The ticker ends only with the process, or when it cannot run at all: readers then use the exact clock.
    worker.on('error', () => Atomics.store(control, STATE, FAILED));
    worker.on('exit', () => {
      Atomics.store(control, STATE, FAILED);
      clock[0] = 0;
    });
  } catch {
    // Threads not permitted (--permission without --allow-worker) or not available: exact clock reads.
    Atomics.store(control, STATE, FAILED);
  }
}

/** Whether the ticker thread is currently refreshing the clock (for tests: it must sleep when unused). */
export function tickerState(): 'none' | 'running' | 'idle' | 'starting' | 'failed' {
  return (['none', 'running', 'idle', 'starting', 'failed'] as const)[Atomics.load(control, STATE)];
}
