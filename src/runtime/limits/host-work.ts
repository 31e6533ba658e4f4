/**
 * Work the host does for a guest in proportion to what the guest asked for (filling a buffer with
 * random bytes, copying output, decoding a payload). Fuel counts the guest's instructions, not this,
 * so a guest that asks for 256 MiB of randomness in a loop would otherwise run far past its deadline
 * in one instruction per call. Such work is announced here before it is done, in chunks, so a
 * deadline stops it within one chunk.
 */

/** Bytes of host work between two checks: about a millisecond of copying or random generation. */
export const HOST_WORK_CHUNK = 1 << 20;

/**
 * The host work one guest has announced: each host (a WASI host, a component's host state, one
 * payload check) keeps its own, so one guest's work is never charged to another. `charge` is the
 * host's: the WASI preview1 host charges the bytes to the guest's fuel as bulk memory instructions
 * are charged (`Meter.chargeBytes`, which checks the deadline too), other hosts check their
 * deadline. It runs once the work announced adds up to a chunk, so small writes cost no clock read
 * each.
 */
export class HostWork {
  private unchecked = 0;
  private readonly charge: (bytes: number) => void;

  constructor(charge: (bytes: number) => void) {
    this.charge = charge;
  }

  /**
   * Accounts for `bytes` of work about to be done for the guest, before it is done: throws (the
   * guest's Timeout or fuel exhaustion, or whatever `charge` throws) when the call may not go on.
   */
  add(bytes: number): void {
    this.unchecked += bytes;
    if (this.unchecked < HOST_WORK_CHUNK) return;
    const due = this.unchecked;
    this.unchecked = 0;
    this.charge(due);
  }

  /** Runs `work` over [0, total) in chunks of at most HOST_WORK_CHUNK, each charged before it runs. */
  inChunks(total: number, work: (offset: number, length: number) => void): void {
    for (let off = 0; off < total; off += HOST_WORK_CHUNK) {
      const len = Math.min(HOST_WORK_CHUNK, total - off);
      this.add(len);
      work(off, len);
    }
  }
}
