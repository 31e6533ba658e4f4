/**
 * Synchronous sleeping for a host that must block the guest's thread (poll_oneoff, waiting on a
 * non-blocking stdin). Atomics.wait on a private buffer nobody notifies is a plain timed sleep that
 * works on the main thread too.
 */
const cell = new Int32Array(new SharedArrayBuffer(4));

export function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(cell, 0, 0, ms);
}
