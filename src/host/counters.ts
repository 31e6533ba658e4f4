/**
 * The io counters of one guest, shared by every ABI it speaks, each checked against its `io`
 * limit here. Each count is released by the code that ends its resource, through the matching
 * `release…` call.
 */
import type { IoLimits } from '../security/resource-limits.ts';

export class IoCounters {
  /**
   * Network connections the guest holds, against io.maxNetworkConnections. Owned by the network
   * capability: it takes one with `reserveConnection` and gives it back with `releaseConnection`.
   */
  networkConnections = 0;
  private readonly io: IoLimits;

  constructor(io: IoLimits) {
    this.io = io;
  }

  /** Takes a network connection if one is available. */
  reserveConnection(): boolean {
    const max = this.io.maxNetworkConnections;
    if (max !== null && this.networkConnections >= max) return false;
    this.networkConnections++;
    return true;
  }

  releaseConnection(): void {
    this.networkConnections--;
  }
}
