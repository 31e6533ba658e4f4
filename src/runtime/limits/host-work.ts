/**
 * Work the host does for a guest in proportion to what the guest asked for (filling a buffer with
 * random bytes, copying output, decoding a payload). Fuel counts the guest's instructions, not this,
 * so a guest that asks for 256 MiB of randomness in a loop would otherwise run far past its deadline
 * in one instruction per call. Such work is announced here before it is done, in chunks, so a
 * deadline stops it within one chunk.
 */

/** Bytes of host work between two checks: about a millisecond of copying or random generation. */
export const HOST_WORK_CHUNK = 1 << 20;

/** Work announced since the last check; small pieces are checked once they add up to a chunk. */
let unchecked = 0;

/**
 * Accounts for `bytes` of host work about to be done for the guest, before it is done: throws (the
 * guest's Timeout or fuel exhaustion, or whatever `charge` throws) when the call may not go on.
 * `charge` is the caller's: the WASI preview1 host charges the bytes to the guest's fuel, as bulk
 * memory instructions are charged (`Meter.chargeBytes`, which checks the deadline too), other hosts
 * check their deadline. It runs once the work announced adds up to a chunk, so small writes cost no
 * clock read each.
 */
export function chargeHostWork(charge: (bytes: number) => void, bytes: number): void {
  unchecked += bytes;
  if (unchecked < HOST_WORK_CHUNK) return;
  const due = unchecked;
  unchecked = 0;
  charge(due);
}

/** Runs `work` over [0, total) in chunks of at most HOST_WORK_CHUNK, each charged before it runs. */
export function inHostWorkChunks(charge: (bytes: number) => void, total: number, work: (offset: number, length: number) => void): void {
  for (let off = 0; off < total; off += HOST_WORK_CHUNK) {
    const len = Math.min(HOST_WORK_CHUNK, total - off);
    chargeHostWork(charge, len);
    work(off, len);
  }
}
