import { Trap } from '../errors.ts';
import type { WasmResult, WasmValue } from './types.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/**
 * What a host function receives as its first argument: bounds-checked access to the calling instance's
 * memory and a way to call back into it. Guest pointers are never trusted: every access is checked
 * against the current memory size and a bad one traps the guest instead of touching host memory.
 */
export interface HostContext {
  /** The id of the calling instance, as `createInstance` returned it. */
  readonly instanceId: string;
  /** The instance's exported memory (`memory`), if any. */
  readonly memory: WebAssembly.Memory | undefined;
  /** A copy of `len` bytes at `ptr`. */
  read(ptr: number, len: number): Uint8Array;
  /** `len` bytes at `ptr` decoded as UTF-8; invalid UTF-8 or out of bounds traps the guest. */
  readString(ptr: number, len: number): string;
  /** Copies `bytes` into guest memory at `ptr`; out of bounds traps the guest and writes nothing. */
  write(ptr: number, bytes: Uint8Array): void;
  /** Writes UTF-8 and returns the number of bytes written. */
  writeString(ptr: number, text: string): number;
  /** Calls one of the instance's exports (re-entrantly, on the same stack). */
  call(name: string, ...args: WasmValue[]): WasmResult;
}

export class InstanceHostContext implements HostContext {
  readonly instanceId: string;
  private exports: WebAssembly.Exports | undefined;
  private readonly invoke: (name: string, args: WasmValue[]) => WasmResult;

  constructor(instanceId: string, invoke: (name: string, args: WasmValue[]) => WasmResult) {
    this.instanceId = instanceId;
    this.invoke = invoke;
  }

  attach(exports: WebAssembly.Exports): void {
    this.exports = exports;
  }

  get memory(): WebAssembly.Memory | undefined {
    const m = this.exports?.memory;
    return m instanceof WebAssembly.Memory ? m : undefined;
  }

  private view(ptr: number, len: number): Uint8Array {
    const memory = this.memory;
    if (!memory) throw new Trap('out-of-bounds', 'host function accessed guest memory, but the instance exports no memory');
    const buf = memory.buffer;
    if (!Number.isInteger(ptr) || !Number.isInteger(len) || ptr < 0 || len < 0 || ptr + len > buf.byteLength) {
      throw new Trap('out-of-bounds', `guest pointer out of bounds: [${ptr}, ${ptr}+${len}) in a memory of ${buf.byteLength} bytes`);
    }
    return new Uint8Array(buf, ptr, len);
  }

  read(ptr: number, len: number): Uint8Array {
    return this.view(ptr >>> 0, len >>> 0).slice();
  }

  readString(ptr: number, len: number): string {
    try {
      return decoder.decode(this.view(ptr >>> 0, len >>> 0));
    } catch (err) {
      if (err instanceof Trap) throw err;
      throw new Trap('host-error', `guest passed a string that is not valid UTF-8 at ${ptr >>> 0}`);
    }
  }

  write(ptr: number, bytes: Uint8Array): void {
    this.view(ptr >>> 0, bytes.length).set(bytes);
  }

  writeString(ptr: number, text: string): number {
    const bytes = encoder.encode(text);
    this.write(ptr, bytes);
    return bytes.length;
  }

  call(name: string, ...args: WasmValue[]): WasmResult {
    return this.invoke(name, args);
  }
}
