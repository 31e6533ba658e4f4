/**
 * The io counters of one guest, shared by every ABI it speaks: descriptors held, bytes read and
 * written through files, and network connections, each checked against its `io` limit here.
 * Each count is released by the code that ends its resource (closing a descriptor, dropping a
 * connection), through the matching `release…` call.
 */
import { ResourceLimitExceeded } from '../errors.ts';
import type { IoLimits } from '../security/resource-limits.ts';

export class IoCounters {
  bytesRead = 0;
  bytesWritten = 0;
  /** Host descriptors the guest holds (stdio and preopens included), against io.maxFileDescriptors. */
  descriptors = 0;
  /**
   * Network connections the guest holds, against io.maxNetworkConnections. Owned by the network
   * capability: it takes one with `reserveConnection` and gives it back with `releaseConnection`.
   */
  networkConnections = 0;
  private readonly io: IoLimits;

  constructor(io: IoLimits) {
    this.io = io;
  }

  /** How many of `n` bytes may still be read before the read limit. */
  readAllowance(n: number): number {
    const max = this.io.maxReadBytes;
    return max === null ? n : Math.max(0, Math.min(n, max - this.bytesRead));
  }

  /** Counts bytes read; reading past the limit throws ResourceLimitExceeded('read-bytes'). */
  countRead(n: number): void {
    this.bytesRead += n;
    const max = this.io.maxReadBytes;
    if (max !== null && this.bytesRead > max) throw new ResourceLimitExceeded('read-bytes', max, this.bytesRead);
  }

  /** The guest wants `n` more bytes at the limit and there are more to read: the read limit is hit. */
  overRead(n: number): never {
    const max = this.io.maxReadBytes ?? Infinity;
    throw new ResourceLimitExceeded('read-bytes', max, this.bytesRead + n);
  }

  /** Throws ResourceLimitExceeded('write-bytes') before a write of `n` bytes that would pass the limit. */
  checkWrite(n: number): void {
    const max = this.io.maxWriteBytes;
    if (max !== null && this.bytesWritten + n > max) throw new ResourceLimitExceeded('write-bytes', max, this.bytesWritten + n);
  }

  countWrite(n: number): void {
    this.bytesWritten += n;
  }

  /** Whether one more descriptor fits under the limit. */
  descriptorAvailable(): boolean {
    const max = this.io.maxFileDescriptors;
    return max === null || this.descriptors < max;
  }

  /** Takes a descriptor if one is available. */
  reserveDescriptor(): boolean {
    if (!this.descriptorAvailable()) return false;
    this.descriptors++;
    return true;
  }

  /** Counts a descriptor set up by the host itself (stdio, preopens), which the limit does not refuse. */
  placeDescriptor(): void {
    this.descriptors++;
  }

  releaseDescriptor(): void {
    this.descriptors--;
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
