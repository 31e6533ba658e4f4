/**
 * Recycled instances: one WebAssembly.Instance handed to use after use, each time in the state it had
 * right after instantiation, without instantiating again (the idea of wasmtime's pooling allocator,
 * which resets a slot instead of creating one; V8 has no copy-on-write memory images, so the reset
 * copies the memory image back).
 *
 * What is restored: every memory's bytes (the image taken after instantiation, its all-zero tail
 * zeroed instead of copied), every mutable global, every table element. What is renewed by the caller
 * per use: the WASI host (descriptors, arguments, environment, stdio), the meter and the grow policy.
 * A slot whose memory or table grew cannot be shrunk back and is discarded, as is one whose instance
 * was stopped by a limit or a deadline.
 *
 * Only modules whose state lives entirely in those places qualify (see `recyclable`): no imports but
 * the sandbox's and WASI's own functions (a host function or an imported memory, table or global is
 * state outside the instance), no `_initialize` (a reactor's constructors ran with the first user's
 * WASI host), no `data.drop`/`elem.drop` (a dropped segment cannot be restored), no shared memory.
 */
import { EXTISM_MODULE } from '../../communication/guest-abi.ts';
import { RESERVED_IMPORT_MODULE, STATE_EXPORT_PREFIX } from '../../module/instrument.ts';
import type { ModuleInfo } from '../../module/module-info.ts';

/** Idle slots kept per module variant; more are let go. */
const MAX_IDLE = 16;
const SYSTEM_MODULES = new Set([RESERVED_IMPORT_MODULE, 'wasi_snapshot_preview1', 'wasi_unstable']);

/** Whether instances of this module can be recycled. `bytes` are the module's original bytes. */
export function recyclable(info: ModuleInfo, bytes: Uint8Array): boolean {
  if (!info.imports.every((i) => i.kind === 'function' && SYSTEM_MODULES.has(i.module) && i.module !== EXTISM_MODULE)) return false;
  if (info.exports.some((e) => e.name === '_initialize')) return false;
  return !dropsSegments(bytes);
}

/**
 * Whether the code section may contain `data.drop` (0xFC 0x09) or `elem.drop` (0xFC 0x0D). A byte
 * scan finds every real one; a false hit (an immediate that happens to match) only costs recycling.
 */
function dropsSegments(bytes: Uint8Array): boolean {
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    let size = 0;
    let shift = 0;
    let b: number;
    do {
      b = bytes[at++];
      size += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80 && at < bytes.length);
    if (id === 12) return true; // a data count section exists only for memory.init / data.drop
    if (id === 10) {
      const end = Math.min(bytes.length, at + size);
      for (let i = at; i < end - 1; i++) if (bytes[i] === 0xfc && (bytes[i + 1] === 0x09 || bytes[i + 1] === 0x0d)) return true;
    }
    at += size;
  }
  return false;
}

interface MemoryImage {
  memory: WebAssembly.Memory;
  /** The memory's size after instantiation. */
  size: number;
  /** The bytes up to the last non-zero one; past them memory was all zero. */
  bytes: Uint8Array;
}

/** The state of one instance right after instantiation, and the way back to it. */
export class StateSnapshot {
  private readonly memories: MemoryImage[] = [];
  private readonly globals: { global: WebAssembly.Global; value: unknown }[] = [];
  private readonly tables: { table: WebAssembly.Table; elements: unknown[] }[] = [];

  private constructor() {}

  /** Takes the snapshot from the state exports; undefined when some state cannot be read back (v128 globals, shared memory). */
  static take(exports: WebAssembly.Exports): StateSnapshot | undefined {
    const snap = new StateSnapshot();
    for (const [name, value] of Object.entries(exports)) {
      if (!name.startsWith(STATE_EXPORT_PREFIX)) continue;
      if (value instanceof WebAssembly.Memory) {
        if (!(value.buffer instanceof ArrayBuffer)) return undefined;
        const all = new Uint8Array(value.buffer);
        let length = all.length;
        while (length > 0 && all[length - 1] === 0) length--;
        snap.memories.push({ memory: value, size: all.length, bytes: all.slice(0, length) });
      } else if (value instanceof WebAssembly.Global) {
        let current: unknown;
        try {
          current = value.value;
        } catch {
          return undefined;
        }
        try {
          // Immutable globals refuse the write and need no restoring.
          value.value = current;
          snap.globals.push({ global: value, value: current });
        } catch {
          // immutable
        }
      } else if (value instanceof WebAssembly.Table) {
        const elements: unknown[] = [];
        for (let i = 0; i < value.length; i++) elements.push(value.get(i));
        snap.tables.push({ table: value, elements });
      }
    }
    return snap;
  }

  /** Puts the instance back as it was; false when it cannot be (memory or a table grew). */
  restore(): boolean {
    for (const m of this.memories) if (m.memory.buffer.byteLength !== m.size) return false;
    for (const t of this.tables) if (t.table.length !== t.elements.length) return false;
    for (const m of this.memories) {
      const view = new Uint8Array(m.memory.buffer);
      view.set(m.bytes);
      view.fill(0, m.bytes.length);
    }
    for (const g of this.globals) g.global.value = g.value;
    for (const t of this.tables) for (let i = 0; i < t.elements.length; i++) t.table.set(i, t.elements[i]);
    return true;
  }
}

/** Idle slots of one module variant, each already restored. */
export class SlotPool<S> {
  private idle: S[] = [];

  take(): S | undefined {
    return this.idle.pop();
  }

  give(slot: S): void {
    if (this.idle.length < MAX_IDLE) this.idle.push(slot);
  }

  clear(): void {
    this.idle = [];
  }
}
