/**
 * Drives a WasiHost's import functions directly with a plain WebAssembly.Memory, so conformance
 * tests can check exact errnos and memory layouts without compiling a guest for every case.
 */
import { Capabilities, type CapabilitiesInit } from '../../src/security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../../src/security/resource-limits.ts';
import { WasiHost, type WasiHostOptions } from '../../src/wasi/wasi-host.ts';
import { FILE_MUTATING_RIGHTS, OFLAGS, RIGHTS_ALL } from '../../src/wasi/constants.ts';

type Fn = (...args: unknown[]) => number;

export interface RawOptions {
  capabilities?: CapabilitiesInit;
  limits?: ResourceLimitsInit;
  extra?: Partial<WasiHostOptions>;
  pages?: number;
}

export class RawGuest {
  readonly host: WasiHost;
  readonly memory: WebAssembly.Memory;
  readonly fns: Record<string, Fn>;
  readonly unstable: Record<string, Fn>;
  readonly violations: Array<{ capability: string; detail: string }> = [];
  private top = 1024;

  constructor(options: RawOptions = {}) {
    this.host = new WasiHost({
      capabilities: Capabilities.from({ stdio: { stdin: 'capture', stdout: 'capture', stderr: 'capture' }, ...options.capabilities }),
      resourceLimits: ResourceLimits.from(options.limits ?? {}),
      onViolation: (v) => this.violations.push(v),
      ...options.extra,
    });
    this.memory = new WebAssembly.Memory({ initial: options.pages ?? 4 });
    this.host.initialize({ exports: { memory: this.memory } } as unknown as WebAssembly.Instance);
    this.fns = this.host.imports.wasi_snapshot_preview1 as Record<string, Fn>;
    this.unstable = this.host.imports.wasi_unstable as Record<string, Fn>;
  }

  get size(): number {
    return this.memory.buffer.byteLength;
  }

  call(name: string, ...args: Array<number | bigint>): number {
    const f = this.fns[name];
    if (f === undefined) throw new Error(`no import ${name}`);
    return f(...args);
  }

  /** Frees every allocation (the bump allocator starts over). */
  reset(): void {
    this.top = 1024;
  }

  alloc(n: number, align = 8): number {
    this.top = Math.ceil(this.top / align) * align;
    const p = this.top;
    this.top += Math.max(n, 1);
    if (this.top > this.size) throw new Error('raw guest out of memory');
    new Uint8Array(this.memory.buffer, p, n).fill(0);
    return p;
  }

  put(data: Uint8Array | string): { ptr: number; len: number } {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const ptr = this.alloc(bytes.length, 1);
    new Uint8Array(this.memory.buffer).set(bytes, ptr);
    return { ptr, len: bytes.length };
  }

  bytes(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.memory.buffer).slice(ptr, ptr + len);
  }

  text(ptr: number, len: number): string {
    return new TextDecoder().decode(this.bytes(ptr, len));
  }

  u8(ptr: number): number {
    return new DataView(this.memory.buffer).getUint8(ptr);
  }

  u16(ptr: number): number {
    return new DataView(this.memory.buffer).getUint16(ptr, true);
  }

  u32(ptr: number): number {
    return new DataView(this.memory.buffer).getUint32(ptr, true);
  }

  u64(ptr: number): bigint {
    return new DataView(this.memory.buffer).getBigUint64(ptr, true);
  }

  /** path_open returning [errno, fd]. */
  open(dirfd: number, path: string, o: { oflags?: number; base?: bigint; inheriting?: bigint; fdflags?: number; lookup?: number } = {}): [number, number] {
    const p = this.put(path);
    const out = this.alloc(4, 4);
    // Asking for write rights on a directory is EISDIR, so directory opens default to the rest.
    const all = (o.oflags ?? 0) & OFLAGS.DIRECTORY ? RIGHTS_ALL & ~FILE_MUTATING_RIGHTS : RIGHTS_ALL;
    const e = this.call('path_open', dirfd, o.lookup ?? 1, p.ptr, p.len, o.oflags ?? 0, o.base ?? BigInt(all), o.inheriting ?? BigInt(RIGHTS_ALL), o.fdflags ?? 0, out);
    return [e, e === 0 ? this.u32(out) : -1];
  }

  /** fd_write of one buffer, returning [errno, written]. */
  write(fd: number, data: Uint8Array | string): [number, number] {
    const d = this.put(data);
    const iov = this.alloc(8, 4);
    const dv = new DataView(this.memory.buffer);
    dv.setUint32(iov, d.ptr, true);
    dv.setUint32(iov + 4, d.len, true);
    const out = this.alloc(4, 4);
    const e = this.call('fd_write', fd, iov, 1, out);
    return [e, e === 0 ? this.u32(out) : -1];
  }

  /** fd_read into a fresh buffer, returning [errno, text]. */
  read(fd: number, len: number): [number, string] {
    const buf = this.alloc(len, 1);
    const iov = this.alloc(8, 4);
    const dv = new DataView(this.memory.buffer);
    dv.setUint32(iov, buf, true);
    dv.setUint32(iov + 4, len, true);
    const out = this.alloc(4, 4);
    const e = this.call('fd_read', fd, iov, 1, out);
    return [e, e === 0 ? this.text(buf, this.u32(out)) : ''];
  }

  /** An iovec array pointing at `lens.length` fresh buffers. */
  iovecs(lens: number[]): { iovs: number; bufs: number[] } {
    const iovs = this.alloc(8 * lens.length, 4);
    const bufs = lens.map((l) => this.alloc(l, 1));
    const dv = new DataView(this.memory.buffer);
    lens.forEach((l, i) => {
      dv.setUint32(iovs + i * 8, bufs[i], true);
      dv.setUint32(iovs + i * 8 + 4, l, true);
    });
    return { iovs, bufs };
  }

  /** Calls with a path argument: fn(fd, ptr, len, ...rest). */
  pathCall(name: string, fd: number, path: string, ...rest: Array<number | bigint>): number {
    const p = this.put(path);
    return this.call(name, fd, p.ptr, p.len, ...rest);
  }
}
