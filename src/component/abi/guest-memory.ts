/**
 * A component instance's linear memory and allocator, as the direct call path sees them: views are
 * re-created only when the memory's buffer changes (after growth), and every access the guest
 * controls (pointers, lengths, alignment) is checked, trapping like the Canonical ABI requires.
 */
import { Trap } from '../../errors.ts';

export type Realloc = (oldPtr: number, oldSize: number, align: number, newSize: number) => number;

export class GuestMemory {
  private readonly memory: WebAssembly.Memory;
  private readonly reallocFn: Realloc | undefined;
  private buffer: ArrayBuffer | undefined;
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private u8: Uint8Array = new Uint8Array(0);

  constructor(memory: WebAssembly.Memory, realloc: Realloc | undefined) {
    this.memory = memory;
    this.reallocFn = realloc;
  }

  view(): DataView {
    if (this.memory.buffer !== this.buffer) this.refresh();
    return this.dv;
  }

  bytes(): Uint8Array {
    if (this.memory.buffer !== this.buffer) this.refresh();
    return this.u8;
  }

  private refresh(): void {
    this.buffer = this.memory.buffer as ArrayBuffer;
    this.dv = new DataView(this.buffer);
    this.u8 = new Uint8Array(this.buffer);
  }

  /** Traps unless [ptr, ptr + len) lies in memory and ptr is aligned. */
  check(ptr: number, len: number, align: number): void {
    if (ptr % align !== 0) throw new Trap('out-of-bounds', `canonical ABI: pointer ${ptr} is not aligned to ${align}`);
    if (ptr + len > this.memory.buffer.byteLength) throw new Trap('out-of-bounds', `canonical ABI: ${len} bytes at ${ptr} are outside linear memory`);
  }

  alloc(align: number, size: number): number {
    if (!this.reallocFn) throw new Trap('host-error', 'canonical ABI: the component gave no realloc for a value that needs memory');
    const ptr = this.reallocFn(0, 0, align, size) >>> 0;
    this.check(ptr, size, align);
    return ptr;
  }
}
