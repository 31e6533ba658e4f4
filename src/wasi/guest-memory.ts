import { ERRNO, fail } from './errno.ts';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();
const EMPTY = new ArrayBuffer(0);
/** Records one fd_read/fd_write/sock_recv/sock_send takes at most: Linux's IOV_MAX. */
export const IOV_MAX = 1024;

/**
 * Bounds-checked access to the guest's linear memory. Every pointer and length the guest passes is
 * untrusted: out-of-range access becomes EFAULT, never a host exception. Views are cached while
 * `memory.buffer` is the same object and rebuilt after `memory.grow` detaches it.
 */
export class GuestMemory {
  private memory: WebAssembly.Memory | undefined;
  private buffer: ArrayBuffer = EMPTY;
  private u8cache = new Uint8Array(EMPTY);
  private dvcache = new DataView(EMPTY);
  private readonly iovPool: Iovec[] = [];
  private readonly iovList: Iovec[] = [];

  bind(memory: WebAssembly.Memory): void {
    this.memory = memory;
    this.refresh();
  }

  get bound(): boolean {
    return this.memory !== undefined;
  }

  private refresh(): void {
    const buf = this.memory === undefined ? EMPTY : (this.memory.buffer as ArrayBuffer);
    if (buf !== this.buffer) {
      this.buffer = buf;
      this.u8cache = new Uint8Array(buf);
      this.dvcache = new DataView(buf);
    }
  }

  /**
   * Picks up a new buffer after `memory.grow`. Called once at the start of every host call: memory
   * cannot grow while a host function runs (it never calls back into the guest), and if host code
   * grew it anyway the cached views would be detached, i.e. empty, so accesses fail with EFAULT.
   */
  sync(): void {
    if (this.memory !== undefined && this.memory.buffer !== this.buffer) this.refresh();
  }

  /** The byte view of the whole memory as of the last `sync`. */
  u8(): Uint8Array {
    return this.u8cache;
  }

  dv(): DataView {
    return this.dvcache;
  }

  /**
   * Throws EFAULT unless [ptr, ptr+len) lies inside memory. Arguments arrive as signed i32; a length
   * computed from a count (count × record size) may pass 2^32 and is taken as it is, never wrapped.
   */
  check(ptr: number, len: number): void {
    const p = ptr >>> 0;
    const l = len >= 0 ? len : len >>> 0;
    if (p + l > this.u8().byteLength) fail(ERRNO.FAULT);
  }

  bytes(ptr: number, len: number): Uint8Array {
    const p = ptr >>> 0;
    const l = len >>> 0;
    const u8 = this.u8();
    if (p + l > u8.byteLength) fail(ERRNO.FAULT);
    return u8.subarray(p, p + l);
  }

  u32(ptr: number): number {
    const p = ptr >>> 0;
    const dv = this.dv();
    if (p + 4 > dv.byteLength) fail(ERRNO.FAULT);
    return dv.getUint32(p, true);
  }

  setU8(ptr: number, v: number): void {
    const p = ptr >>> 0;
    const dv = this.dv();
    if (p + 1 > dv.byteLength) fail(ERRNO.FAULT);
    dv.setUint8(p, v);
  }

  setU16(ptr: number, v: number): void {
    const p = ptr >>> 0;
    const dv = this.dv();
    if (p + 2 > dv.byteLength) fail(ERRNO.FAULT);
    dv.setUint16(p, v, true);
  }

  setU32(ptr: number, v: number): void {
    const p = ptr >>> 0;
    const dv = this.dv();
    if (p + 4 > dv.byteLength) fail(ERRNO.FAULT);
    dv.setUint32(p, v, true);
  }

  setU64(ptr: number, v: bigint | number): void {
    const p = ptr >>> 0;
    const dv = this.dv();
    if (p + 8 > dv.byteLength) fail(ERRNO.FAULT);
    dv.setBigUint64(p, typeof v === 'bigint' ? BigInt.asUintN(64, v) : BigInt(v), true);
  }

  /** A guest string: bounds-checked, strict UTF-8 (EILSEQ otherwise), no interior NUL (EINVAL). */
  string(ptr: number, len: number): string {
    const bytes = this.bytes(ptr, len);
    if (bytes.indexOf(0) !== -1) fail(ERRNO.INVAL);
    try {
      return decoder.decode(bytes);
    } catch {
      return fail(ERRNO.ILSEQ);
    }
  }

  /**
   * Reads `count` iovec/ciovec records ({ptr u32, len u32}) and validates each buffer. The returned
   * list is reused by the next call (host functions never nest), so hot fd_read/fd_write paths
   * allocate nothing. More than IOV_MAX records is EINVAL, as readv/writev have it: the list is held
   * on the host, so its length must not be the guest's to choose.
   */
  iovecs(ptr: number, count: number): Iovec[] {
    const n = count >>> 0;
    if (n > IOV_MAX) fail(ERRNO.INVAL);
    this.check(ptr, n * 8);
    const dv = this.dv();
    const size = dv.byteLength;
    const pool = this.iovPool;
    while (pool.length < n) pool.push({ ptr: 0, len: 0 });
    const out = this.iovList;
    out.length = 0;
    let p = ptr >>> 0;
    for (let i = 0; i < n; i++, p += 8) {
      const bp = dv.getUint32(p, true);
      const bl = dv.getUint32(p + 4, true);
      if (bp + bl > size) fail(ERRNO.FAULT);
      const v = pool[i];
      v.ptr = bp;
      v.len = bl;
      out.push(v);
    }
    return out;
  }
}

export interface Iovec {
  ptr: number;
  len: number;
}

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}
