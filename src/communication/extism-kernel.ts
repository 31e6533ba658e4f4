/**
 * The host side of Extism's plugin ABI (`extism:host/env`), so that plugins built with any Extism PDK
 * run unchanged. Extism keeps plugin data in a memory of its own, apart from wasm memory, addressed
 * by u64 offsets; here that memory is a host-side heap of blocks. Block `i` lives at address `i·2³²`,
 * so a pointer is a block number and an offset inside it, found without a search, and every load,
 * store and length is checked against its block: a garbage pointer is an AbiViolation, never a read
 * of anything else. The heap is emptied at the start and end of every call, as Extism does, so blocks
 * cannot pile up across calls; plugin variables live in their own bounded map.
 */
import { AbiViolation, ResourceLimitExceeded, SecurityViolation } from '../errors.ts';
import { checkPayload } from './payload-limit.ts';

/** Severity of an Extism plugin's log line, least severe first. */
export type ExtismLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export const EXTISM_LOG_LEVELS: readonly ExtismLogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

/** Host-side settings of a plugin written against Extism's host ABI (`InstanceConfig.extism`). */
export interface ExtismOptions {
  /** What `config_get` answers: the plugin's read-only configuration. */
  config?: Readonly<Record<string, string>>;
  /** The least severe level delivered to `onLog` (default 'info'); 'off' silences the plugin. */
  logLevel?: ExtismLogLevel | 'off';
  /** Receives the plugin's log lines. Without it they are dropped. */
  onLog?: (level: ExtismLogLevel, message: string) => void;
  /** Bytes all plugin variables may hold together (default 1 MiB, Extism's default). */
  maxVarBytes?: number;
}

export interface KernelLimits {
  /** `io.maxPayloadBytes`: input and output of one call. */
  readonly maxPayloadBytes: number | null;
  /** Bytes the heap may hold at once: the instance's memory limit, since in Extism this is wasm memory. */
  readonly maxHeapBytes: number | null;
}

const BLOCK_SPAN = 2 ** 32;
/** Keeps every address below 2⁵³, so block numbers survive the trip through a double. */
const MAX_BLOCKS = 2 ** 20;
const DEFAULT_MAX_VAR_BYTES = 1024 * 1024;
const LOG_OFF = 0x7fff_ffff;

const utf8 = new TextDecoder('utf-8');
// Eight bytes staged through a u64 view: cheaper than a DataView per block for the PDKs' 8-byte copies.
const scratch = new BigUint64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);

function readU64(block: Uint8Array, offset: number): bigint {
  for (let i = 0; i < 8; i++) scratchBytes[i] = block[offset + i];
  return scratch[0];
}

function writeU64(block: Uint8Array, offset: number, value: bigint): void {
  scratch[0] = BigInt.asUintN(64, value);
  for (let i = 0; i < 8; i++) block[offset + i] = scratchBytes[i];
}
const encoder = new TextEncoder();

export class ExtismKernel {
  /** The `extism:host/env` import module. */
  readonly imports: Record<string, (...args: never[]) => unknown>;
  private readonly blocks: (Uint8Array | undefined)[] = [undefined];
  private heapBytes = 0;
  private inputBlock = 0;
  private output: { block: number; offset: number; length: number } | undefined;
  private error: number | undefined;
  private readonly vars = new Map<string, Uint8Array>();
  private varBytes = 0;
  private readonly config: Readonly<Record<string, string>>;
  private readonly logThreshold: number;
  private readonly onLog: ((level: ExtismLogLevel, message: string) => void) | undefined;
  private readonly maxVarBytes: number;
  private readonly limits: KernelLimits;
  /** The plugin function running, for error messages. */
  private current = '';

  constructor(options: ExtismOptions, limits: KernelLimits) {
    this.config = { ...(options.config ?? {}) };
    this.logThreshold = options.logLevel === 'off' ? LOG_OFF : EXTISM_LOG_LEVELS.indexOf(options.logLevel ?? 'info');
    this.onLog = options.onLog;
    this.maxVarBytes = options.maxVarBytes ?? DEFAULT_MAX_VAR_BYTES;
    this.limits = limits;
    const log = (level: number) => (addr: bigint): void => {
      if (level < this.logThreshold || !this.onLog) return;
      this.onLog(EXTISM_LOG_LEVELS[level], utf8.decode(this.whole(addr, 'log')));
    };
    this.imports = {
      alloc: (n: bigint) => this.alloc(n),
      free: (addr: bigint) => this.free(addr),
      length: (addr: bigint) => BigInt(this.lengthOf(addr)),
      length_unsafe: (addr: bigint) => BigInt(this.lengthOf(addr)),
      load_u8: (addr: bigint) => this.blocks[this.at(addr, 1, 'load_u8')]![this.lastOffset],
      load_u64: (addr: bigint) => readU64(this.blocks[this.at(addr, 8, 'load_u64')]!, this.lastOffset),
      store_u8: (addr: bigint, value: number) => { this.blocks[this.at(addr, 1, 'store_u8')]![this.lastOffset] = value; },
      store_u64: (addr: bigint, value: bigint) => writeU64(this.blocks[this.at(addr, 8, 'store_u64')]!, this.lastOffset, value),
      input_offset: () => this.address(this.inputBlock),
      input_length: () => BigInt(this.blocks[this.inputBlock]?.length ?? 0),
      input_load_u8: (offset: bigint) => this.blocks[this.inInput(offset, 1, 'input_load_u8')]![this.lastOffset],
      input_load_u64: (offset: bigint) => readU64(this.blocks[this.inInput(offset, 8, 'input_load_u64')]!, this.lastOffset),
      output_set: (addr: bigint, length: bigint) => this.setOutput(addr, length),
      error_set: (addr: bigint) => { this.error = addr === 0n ? undefined : this.blockOf(addr, 'error_set'); },
      config_get: (key: bigint) => {
        const value = this.config[utf8.decode(this.whole(key, 'config_get'))];
        return typeof value === 'string' ? this.store(encoder.encode(value)) : 0n;
      },
      var_get: (key: bigint) => {
        const value = this.vars.get(utf8.decode(this.whole(key, 'var_get')));
        return value ? this.store(value) : 0n;
      },
      var_set: (key: bigint, value: bigint) => this.setVar(utf8.decode(this.whole(key, 'var_set')), value),
      log_trace: log(0),
      log_debug: log(1),
      log_info: log(2),
      log_warn: log(3),
      log_error: log(4),
      get_log_level: () => this.logThreshold,
      http_request: () => {
        throw new SecurityViolation('network', `Extism plugin function '${this.current}' made an HTTP request; this host grants plugins no network access`);
      },
      http_status_code: () => 0,
      http_headers: () => 0n,
      // The whole heap belongs to the running call; a plugin resetting it only loses its own blocks.
      reset: () => this.clear(),
      memory_bytes: () => BigInt(this.heapBytes),
    };
  }

  /** Starts a call: an empty heap holding only the input. */
  begin(functionName: string, input: Uint8Array): void {
    checkPayload(this.limits.maxPayloadBytes, input.length, `input of '${functionName}'`);
    this.current = functionName;
    this.clear();
    this.inputBlock = this.blockOf(this.store(input), 'input');
  }

  /**
   * Ends a call: the output, or the plugin's error as a GuestError-ready message. `status` is the
   * function's return value (undefined for a function without one).
   */
  finish(status: unknown): { output: Uint8Array } | { error: string } {
    try {
      const rc = typeof status === 'number' ? status : 0;
      if (this.error !== undefined) return { error: utf8.decode(this.blocks[this.error] ?? new Uint8Array(0)) || `plugin function returned ${rc}` };
      if (rc !== 0) return { error: `plugin function returned ${rc}` };
      const out = this.output;
      if (!out) return { output: new Uint8Array(0) };
      checkPayload(this.limits.maxPayloadBytes, out.length, `output of '${this.current}'`);
      const block = this.blocks[out.block];
      if (!block || out.offset + out.length > block.length) {
        throw new AbiViolation(this.current, 'its output block was freed before the call returned');
      }
      return { output: block.slice(out.offset, out.offset + out.length) };
    } finally {
      this.clear();
    }
  }

  /** Drops every block (the input, the output, whatever the plugin left behind). */
  clear(): void {
    this.blocks.length = 1;
    this.heapBytes = 0;
    this.inputBlock = 0;
    this.output = undefined;
    this.error = undefined;
  }

  // --- addresses ------------------------------------------------------------------------------

  private address(block: number): bigint {
    return BigInt(block * BLOCK_SPAN);
  }

  /** Offset inside its block of the address `at` or `inInput` last checked. */
  private lastOffset = 0;

  /** The block holding [addr, addr+size), with `lastOffset` set. Anything else is the guest's fault. */
  private at(addr: bigint, size: number, op: string): number {
    const a = Number(addr);
    const index = Math.floor(a / BLOCK_SPAN);
    const offset = a - index * BLOCK_SPAN;
    const block = index > 0 ? this.blocks[index] : undefined;
    if (!block || offset + size > block.length) {
      throw new AbiViolation(this.current, `${op} at 0x${BigInt.asUintN(64, addr).toString(16)} (${size} bytes) is outside every plugin memory block`);
    }
    this.lastOffset = offset;
    return index;
  }

  /** Like `at`, for an offset into the input, which must not run on into a neighbouring block. */
  private inInput(offset: bigint, size: number, op: string): number {
    const input = this.blocks[this.inputBlock];
    const o = Number(offset);
    if (!input || offset < 0n || o + size > input.length) {
      throw new AbiViolation(this.current, `${op} at input offset ${offset} (${size} bytes) is outside the ${input?.length ?? 0}-byte input`);
    }
    this.lastOffset = o;
    return this.inputBlock;
  }

  /** The block that starts at `addr`, or 0 when `addr` is not the start of one. */
  private startOf(addr: bigint): number {
    const a = Number(addr);
    if (addr <= 0n || a % BLOCK_SPAN !== 0) return 0;
    const index = a / BLOCK_SPAN;
    return this.blocks[index] ? index : 0;
  }

  private blockOf(addr: bigint, op: string): number {
    const index = this.startOf(addr);
    if (index === 0) throw new AbiViolation(this.current, `${op} was given 0x${BigInt.asUintN(64, addr).toString(16)}, which is not the start of a plugin memory block`);
    return index;
  }

  private whole(addr: bigint, op: string): Uint8Array {
    return this.blocks[this.blockOf(addr, op)]!;
  }

  private lengthOf(addr: bigint): number {
    const index = this.startOf(addr);
    return index === 0 ? 0 : this.blocks[index]!.length;
  }

  // --- allocation -----------------------------------------------------------------------------

  private alloc(n: bigint): bigint {
    const size = Number(n);
    if (n < 0n || size >= BLOCK_SPAN) throw new AbiViolation(this.current, `alloc of ${n} bytes: a plugin memory block holds at most 4 GiB`);
    const max = this.limits.maxHeapBytes;
    if (max !== null && this.heapBytes + size > max) {
      throw new ResourceLimitExceeded('memory', max, this.heapBytes + size, `Extism plugin memory, allocating ${size} bytes`);
    }
    if (this.blocks.length >= MAX_BLOCKS) {
      throw new ResourceLimitExceeded('memory', MAX_BLOCKS, this.blocks.length, 'Extism plugin memory blocks in one call');
    }
    this.blocks.push(new Uint8Array(size));
    this.heapBytes += size;
    return this.address(this.blocks.length - 1);
  }

  private free(addr: bigint): void {
    const index = this.startOf(addr);
    if (index === 0) return;
    this.heapBytes -= this.blocks[index]!.length;
    this.blocks[index] = undefined;
    // An output pointing at a freed block stays set: `finish` reports it rather than returning nothing.
    if (this.error === index) this.error = undefined;
  }

  private store(bytes: Uint8Array): bigint {
    const addr = this.alloc(BigInt(bytes.length));
    this.blocks[this.startOf(addr)]!.set(bytes);
    return addr;
  }

  private setOutput(addr: bigint, length: bigint): void {
    const n = Number(length);
    if (length < 0n) throw new AbiViolation(this.current, `output_set with a negative length ${length}`);
    // An empty output needs no block; Extism PDKs set it from the start of an empty allocation.
    if (n === 0 && this.lengthOf(addr) === 0 && this.startOf(addr) === 0) {
      this.output = undefined;
      return;
    }
    const block = this.at(addr, n, 'output_set');
    this.output = { block, offset: this.lastOffset, length: n };
  }

  private setVar(key: string, value: bigint): void {
    const old = this.vars.get(key);
    if (value === 0n) {
      if (old) this.varBytes -= old.length;
      this.vars.delete(key);
      return;
    }
    const bytes = this.whole(value, 'var_set').slice();
    const next = this.varBytes - (old?.length ?? 0) + bytes.length;
    if (next > this.maxVarBytes) {
      throw new ResourceLimitExceeded('memory', this.maxVarBytes, next, `Extism plugin variables, setting '${key}'`);
    }
    this.vars.set(key, bytes);
    this.varBytes = next;
  }
}
