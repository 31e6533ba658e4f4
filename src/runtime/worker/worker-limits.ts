/**
 * How a guest's ResourceLimits split between a worker thread and the main thread: the V8 limits the
 * thread is started with (fixed for its life, so the pool keeps warm workers per distinct set of
 * limits; values are rounded to keep that number small), and the limits the guest is instrumented
 * for inside it (everything but deadlines, which the main thread enforces by terminating it).
 */
import type { ResourceLimits } from '../../security/resource-limits.ts';

const MiB = 1024 * 1024;
/** Node keeps this much of a worker's stack for itself (its kStackBufferSize); the guest gets the rest. */
const NODE_STACK_RESERVE = 192 * 1024;
/** The worker's own code needs some heap whatever the guest does. */
const MIN_HEAP_MB = 64;
/** Below this the thread cannot load its own modules; smaller stack limits are raised to it. */
const MIN_GUEST_STACK = 256 * 1024;

export interface WorkerLimits {
  readonly stackSizeMb?: number;
  readonly maxOldGenerationSizeMb?: number;
  readonly maxYoungGenerationSizeMb?: number;
}

export function workerLimits(limits: ResourceLimits): WorkerLimits {
  const out: { stackSizeMb?: number; maxOldGenerationSizeMb?: number } = {};
  const stack = limits.stack.maxStackBytes;
  if (stack !== null) {
    // Whole 64 KiB steps: finer differences are not worth a separate pool of threads.
    const step = 64 * 1024;
    out.stackSizeMb = (Math.max(MIN_GUEST_STACK, Math.ceil(stack / step) * step) + NODE_STACK_RESERVE) / MiB;
  }
  // Linear memory lives outside the JS heap; the heap holds what the engine allocates for the guest
  // (tables, GC objects, strings made by host glue). It gets the same budget as linear memory, rounded
  // up to a power of two.
  const memory = limits.memory.maxMemoryBytes;
  if (memory !== null) {
    out.maxOldGenerationSizeMb = Math.max(MIN_HEAP_MB, 2 ** Math.ceil(Math.log2(Math.max(1, memory / MiB))));
  }
  return out;
}

/** A key identifying threads started with the same limits. */
export function limitsKey(limits: WorkerLimits): string {
  return `${limits.stackSizeMb ?? '-'}/${limits.maxOldGenerationSizeMb ?? '-'}`;
}

/**
 * Node stops a worker that exhausts its heap cleanly only when the failing allocation fits in a small
 * grace (16 MB); a single larger one aborts the whole process. Table growth allocates the whole table
 * at once, so tables are held to a size whose backing array stays well under that.
 */
const MAX_WORKER_TABLE_ELEMENTS = 1_000_000;

/**
 * How long past a call deadline the main thread waits for the worker to stop its guest itself before
 * it terminates the thread: a guest that reaches its checkpoints is stopped by its own meter (on the
 * shared epoch clock) and keeps its thread; one stuck where no checkpoint runs (a blocking wait) is not.
 */
export const IN_THREAD_GRACE_MS = 5;

/**
 * The limits the worker enforces itself. The instance lifetime is enforced by terminating the
 * thread; the call deadline too, unless `callDeadline` asks the thread to enforce it first (the main
 * thread then terminates it only IN_THREAD_GRACE_MS later).
 */
export function limitsInWorker(limits: ResourceLimits, options: { callDeadline?: boolean } = {}): ResourceLimits {
  const tables = limits.memory.maxTableElements;
  const call = options.callDeadline ? limits.time.callTimeoutMs : null;
  const { initTimeoutMs, instanceLifetimeMs } = limits.time;
  const deadlines = limits.time.callTimeoutMs !== call || initTimeoutMs !== null || instanceLifetimeMs !== null;
  const bigTables = tables === null || tables > MAX_WORKER_TABLE_ELEMENTS;
  if (!deadlines && !bigTables) return limits;
  return limits.with({
    time: { callTimeoutMs: call, initTimeoutMs: null, instanceLifetimeMs: null },
    memory: { maxTableElements: bigTables ? MAX_WORKER_TABLE_ELEMENTS : tables },
  });
}
