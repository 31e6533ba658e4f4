import type { BigIntStats } from 'node:fs';
import { FILETYPE } from './constants.ts';
import type { GuestMemory } from './guest-memory.ts';

export function filetypeOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): number {
  if (st.isFile()) return FILETYPE.REGULAR_FILE;
  if (st.isDirectory()) return FILETYPE.DIRECTORY;
  if (st.isSymbolicLink()) return FILETYPE.SYMBOLIC_LINK;
  if (st.isCharacterDevice()) return FILETYPE.CHARACTER_DEVICE;
  if (st.isBlockDevice()) return FILETYPE.BLOCK_DEVICE;
  if (st.isSocket()) return FILETYPE.SOCKET_STREAM;
  return FILETYPE.UNKNOWN;
}

interface Override {
  hostAtim: bigint;
  guestAtim: bigint;
  hostMtim: bigint;
  guestMtim: bigint;
}

const MAX_OVERRIDES = 4096;

/**
 * Node can only set file times as a double of seconds (~240 ns resolution today), yet WASI guests
 * set nanoseconds and expect to read back exactly what they set. This remembers, per inode, which
 * host value each guest-set time became; while the host still shows that value the guest sees its
 * own. Any later change of the time on the host makes the entry stale and it is ignored.
 */
export class TimestampOverrides {
  private readonly map = new Map<string, Override>();

  record(dev: bigint, ino: bigint, o: Override): void {
    const key = `${dev}:${ino}`;
    this.map.delete(key);
    if (this.map.size >= MAX_OVERRIDES) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, o);
  }

  atim(st: BigIntStats): bigint {
    if (this.map.size === 0) return st.atimeNs;
    const o = this.map.get(`${st.dev}:${st.ino}`);
    return o !== undefined && o.hostAtim === st.atimeNs ? o.guestAtim : st.atimeNs;
  }

  mtim(st: BigIntStats): bigint {
    if (this.map.size === 0) return st.mtimeNs;
    const o = this.map.get(`${st.dev}:${st.ino}`);
    return o !== undefined && o.hostMtim === st.mtimeNs ? o.guestMtim : st.mtimeNs;
  }
}

/** Writes a 64-byte preview1 `filestat`. */
export function writeFilestat(mem: GuestMemory, ptr: number, st: BigIntStats, times: TimestampOverrides): void {
  mem.check(ptr, 64);
  const dv = mem.dv();
  const p = ptr >>> 0;
  dv.setBigUint64(p, BigInt.asUintN(64, st.dev), true);
  dv.setBigUint64(p + 8, BigInt.asUintN(64, st.ino), true);
  dv.setUint8(p + 16, filetypeOf(st));
  for (let k = 17; k < 24; k++) dv.setUint8(p + k, 0);
  dv.setBigUint64(p + 24, BigInt.asUintN(64, st.nlink), true);
  dv.setBigUint64(p + 32, BigInt.asUintN(64, st.size), true);
  dv.setBigUint64(p + 40, BigInt.asUintN(64, times.atim(st)), true);
  dv.setBigUint64(p + 48, BigInt.asUintN(64, times.mtim(st)), true);
  dv.setBigUint64(p + 56, BigInt.asUintN(64, st.ctimeNs), true);
}

/** Writes a 56-byte wasi_unstable `filestat` (nlink is u32 there). */
export function writeFilestatUnstable(mem: GuestMemory, ptr: number, st: BigIntStats, times: TimestampOverrides): void {
  mem.check(ptr, 56);
  const dv = mem.dv();
  const p = ptr >>> 0;
  dv.setBigUint64(p, BigInt.asUintN(64, st.dev), true);
  dv.setBigUint64(p + 8, BigInt.asUintN(64, st.ino), true);
  dv.setUint8(p + 16, filetypeOf(st));
  for (let k = 17; k < 20; k++) dv.setUint8(p + k, 0);
  dv.setUint32(p + 20, Number(st.nlink & 0xffffffffn), true);
  dv.setBigUint64(p + 24, BigInt.asUintN(64, st.size), true);
  dv.setBigUint64(p + 32, BigInt.asUintN(64, times.atim(st)), true);
  dv.setBigUint64(p + 40, BigInt.asUintN(64, times.mtim(st)), true);
  dv.setBigUint64(p + 48, BigInt.asUintN(64, st.ctimeNs), true);
}

/** Writes a filestat for a descriptor with no host file behind it (captured or null stdio). */
export function writeSyntheticFilestat(mem: GuestMemory, ptr: number, filetype: number, unstable: boolean): void {
  const size = unstable ? 56 : 64;
  const bytes = mem.bytes(ptr, size);
  bytes.fill(0);
  bytes[16] = filetype;
  mem.setU32(ptr + (unstable ? 20 : 24), 1);
}

/** Nanoseconds since the epoch as the seconds double Node's utimes family takes, as close as a double allows. */
export function nsToSeconds(ns: bigint): number {
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}
