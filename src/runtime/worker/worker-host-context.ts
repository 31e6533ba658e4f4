/**
 * The HostContext a host function receives when its guest runs on a worker thread. The host function
 * runs on the main thread while the guest waits inside the import; memory access and calls back into
 * the guest are requests served by the waiting worker.
 */
import { Trap } from '../../errors.ts';
import type { HostContext } from '../host-context.ts';
import type { WasmResult, WasmValue } from '../types.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

export interface GuestBridge {
  readMemory(ptr: number, len: number): Uint8Array;
  writeMemory(ptr: number, bytes: Uint8Array): void;
  callGuest(name: string, args: WasmValue[]): WasmResult;
}

export class WorkerHostContext implements HostContext {
  readonly instanceId: string;
  /** Always undefined: the guest's memory belongs to another thread. Use read/write, which copy. */
  readonly memory: WebAssembly.Memory | undefined = undefined;
  private readonly bridge: GuestBridge;

  constructor(instanceId: string, bridge: GuestBridge) {
    this.instanceId = instanceId;
    this.bridge = bridge;
  }

  read(ptr: number, len: number): Uint8Array {
    return this.bridge.readMemory(ptr >>> 0, len >>> 0);
  }

  readString(ptr: number, len: number): string {
    const bytes = this.read(ptr, len);
    try {
      return decoder.decode(bytes);
    } catch {
      throw new Trap('host-error', `guest passed a string that is not valid UTF-8 at ${ptr >>> 0}`);
    }
  }

  write(ptr: number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new Trap('host-error', 'host context write expects a Uint8Array');
    this.bridge.writeMemory(ptr >>> 0, bytes);
  }

  writeString(ptr: number, text: string): number {
    const bytes = encoder.encode(text);
    this.write(ptr, bytes);
    return bytes.length;
  }

  call(name: string, ...args: WasmValue[]): WasmResult {
    return this.bridge.callGuest(name, args);
  }
}
