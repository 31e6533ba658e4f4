/**
 * The shared memory between the main thread and one worker thread. Control passes back and forth
 * through a single turn word: each side writes a message code there and the other side, waiting on
 * that word, takes over. Only the side holding the turn touches the payload areas, so the turn word
 * is the only synchronisation needed, and nested exchanges (a host function reading guest memory,
 * or calling back into the guest) are just more turns.
 */

// Main → worker: commands, and the answers to the worker's requests.
export const CMD_CALL = 1;
export const CMD_RUN_COMMAND = 2;
export const CMD_INSTANTIATE = 3;
export const CMD_RELEASE = 4;
export const CMD_ADD_FUEL = 5;
export const CMD_MEM_READ = 6;
export const CMD_MEM_WRITE = 7;
export const CMD_REENTER = 8;
export const CMD_ANSWER = 9;
export const CMD_ANSWER_THROW = 10;
// Structured calls and memory access from the embedder, sent while the worker is idle.
export const CMD_CALL_DATA = 11;
export const CMD_STAGE_IN = 12;
export const CMD_STAGE_OUT = 13;
export const CMD_PEEK = 14;
export const CMD_POKE = 15;
// Worker → main: replies to commands, and requests made while a command runs.
export const REPLY_READY = 16;
export const REPLY_DONE = 17;
export const REPLY_FAILED = 18;
export const REQUEST_HOST_CALL = 19;
export const REQUEST_OUTPUT = 20;
export const REQUEST_EVENT = 21;
/** The guest reads a streamed stdin: operand a is the most bytes wanted; the answer is [1] at EOF, else [0] and the bytes. */
export const REQUEST_STDIN = 22;
// What REQUEST_EVENT reports, in the op slot.
export const EVENT_TRAP = 0;
export const EVENT_LIMIT = 1;
export const EVENT_VIOLATION = 2;
/** The WASI host's listeners are bound; the payload is their addresses as JSON text. */
export const EVENT_LISTENING = 3;
/** REQUEST_OUTPUT's op for an Extism plugin's log line: this plus the level's index (trace = 0). */
export const LOG_OUTPUT_BASE = 16;
/** Never written to the buffer: what a main-side wait returns once the worker is gone. */
export const WORKER_GONE = -1;

// Int32 header slots.
const TURN = 0;
const OP = 1;
const COUNT = 2;
const BYTE_LENGTH = 3;
const ARG_A = 4;
const ARG_B = 5;
const ARG_C = 6;

const HEADER_BYTES = 64;
export const METRIC_SLOTS = 16;
const METRICS_OFFSET = HEADER_BYTES;
const TAGS_OFFSET = METRICS_OFFSET + METRIC_SLOTS * 8;
/** The engine allows at most 1000 parameters or results per function. */
export const MAX_VALUES = 1024;
const VALUES_OFFSET = TAGS_OFFSET + MAX_VALUES;
export const BYTES_CAPACITY = 64 * 1024;
const BYTES_OFFSET = VALUES_OFFSET + MAX_VALUES * 8;
export const CHANNEL_BYTES = BYTES_OFFSET + BYTES_CAPACITY;

const TAG_NUMBER = 0;
const TAG_BIGINT = 1;
const TAG_NULL = 2;
const TAG_UNDEFINED = 3;
const TAG_FALSE = 4;
const TAG_TRUE = 5;

/** A value that can cross the channel: what wasm numeric types and null references turn into. */
export type ChannelValue = number | bigint | null | undefined | boolean;

export function isCrossable(value: unknown): value is ChannelValue {
  const t = typeof value;
  return value === null || t === 'number' || t === 'bigint' || t === 'boolean' || t === 'undefined';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Channel {
  readonly buffer: SharedArrayBuffer;
  private readonly header: Int32Array;
  private readonly tags: Uint8Array;
  private readonly numbers: Float64Array;
  private readonly bigints: BigInt64Array;
  private readonly bytes: Uint8Array;
  /** Written by the worker after every command, read by the main thread at any time. */
  readonly metrics: Float64Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(CHANNEL_BYTES)) {
    this.buffer = buffer;
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.metrics = new Float64Array(buffer, METRICS_OFFSET, METRIC_SLOTS);
    this.tags = new Uint8Array(buffer, TAGS_OFFSET, MAX_VALUES);
    this.numbers = new Float64Array(buffer, VALUES_OFFSET, MAX_VALUES);
    this.bigints = new BigInt64Array(buffer, VALUES_OFFSET, MAX_VALUES);
    this.bytes = new Uint8Array(buffer, BYTES_OFFSET, BYTES_CAPACITY);
  }

  // --- the turn word -------------------------------------------------------------------------

  turn(): number {
    return Atomics.load(this.header, TURN);
  }

  /** Writes a message code and wakes the other side. */
  pass(code: number): void {
    Atomics.store(this.header, TURN, code);
    Atomics.notify(this.header, TURN);
  }

  /** Wakes a main-side waiter without passing the turn (used when the worker is gone). */
  wake(): void {
    Atomics.notify(this.header, TURN);
  }

  /**
   * Blocks the calling thread until the turn word is no longer `sent`. Returns the new code, or
   * `'timed-out'` when `timeoutMs` passed first.
   */
  waitSync(sent: number, timeoutMs = Infinity): number | 'timed-out' {
    const until = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      const now = Atomics.load(this.header, TURN);
      if (now !== sent) return now;
      const left = until === Infinity ? Infinity : until - performance.now();
      if (left <= 0) return 'timed-out';
      Atomics.wait(this.header, TURN, sent, left);
    }
  }

  /** Resolves once the turn word is no longer `sent`, or once `gone()` says the worker is dead. */
  async waitAsync(sent: number, gone: () => boolean): Promise<number> {
    for (;;) {
      if (gone()) return WORKER_GONE;
      const now = Atomics.load(this.header, TURN);
      if (now !== sent) return now;
      const waiting = Atomics.waitAsync(this.header, TURN, sent);
      if (waiting.async) await waiting.value;
    }
  }

  // --- scalar operands ----------------------------------------------------------------------

  get op(): number {
    return this.header[OP];
  }
  set op(value: number) {
    this.header[OP] = value;
  }

  /** Three unsigned 32-bit operands (pointers, lengths, offsets). */
  setOperands(a: number, b = 0, c = 0): void {
    this.header[ARG_A] = a | 0;
    this.header[ARG_B] = b | 0;
    this.header[ARG_C] = c | 0;
  }
  get a(): number {
    return this.header[ARG_A] >>> 0;
  }
  get b(): number {
    return this.header[ARG_B] >>> 0;
  }
  get c(): number {
    return this.header[ARG_C] >>> 0;
  }

  // --- values -------------------------------------------------------------------------------

  /**
   * Writes values with a tag each: numbers as f64 (exact for i32, f32 and f64), bigints in i64
   * slots. Returns the index of the first value that cannot cross, or -1 when all were written.
   */
  writeValues(values: readonly unknown[]): number {
    const n = values.length;
    if (n > MAX_VALUES) return MAX_VALUES;
    const { tags, numbers, bigints } = this;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      switch (typeof v) {
        case 'number':
          tags[i] = TAG_NUMBER;
          numbers[i] = v;
          break;
        case 'bigint':
          tags[i] = TAG_BIGINT;
          bigints[i] = BigInt.asIntN(64, v);
          break;
        case 'undefined':
          tags[i] = TAG_UNDEFINED;
          break;
        case 'boolean':
          tags[i] = v ? TAG_TRUE : TAG_FALSE;
          break;
        default:
          if (v !== null) return i;
          tags[i] = TAG_NULL;
      }
    }
    this.header[COUNT] = n;
    return -1;
  }

  /** The one value, the several values, or nothing, as the results of a function with `arity` results. */
  writeResult(result: unknown, arity: number): number {
    if (arity === 0) return this.writeValues([]);
    if (arity === 1) return this.writeValues([result]);
    return this.writeValues(result as unknown[]);
  }

  readValues(): ChannelValue[] {
    const n = this.header[COUNT];
    const out = new Array<ChannelValue>(n);
    const { tags, numbers, bigints } = this;
    for (let i = 0; i < n; i++) {
      switch (tags[i]) {
        case TAG_NUMBER: out[i] = numbers[i]; break;
        case TAG_BIGINT: out[i] = bigints[i]; break;
        case TAG_NULL: out[i] = null; break;
        case TAG_FALSE: out[i] = false; break;
        case TAG_TRUE: out[i] = true; break;
        default: out[i] = undefined;
      }
    }
    return out;
  }

  readResult(arity: number): ChannelValue | ChannelValue[] {
    const values = this.readValues();
    if (arity === 0) return undefined;
    if (arity === 1) return values[0];
    return values;
  }

  // --- bytes --------------------------------------------------------------------------------

  /** Copies up to BYTES_CAPACITY bytes in; the caller splits anything larger. */
  writeBytes(data: Uint8Array): void {
    this.bytes.set(data);
    this.header[BYTE_LENGTH] = data.length;
  }

  readBytes(): Uint8Array {
    return this.bytes.slice(0, this.header[BYTE_LENGTH]);
  }

  /** Copies the byte area into `target` at `at`, avoiding an intermediate copy. */
  readBytesInto(target: Uint8Array, at: number): void {
    target.set(this.bytes.subarray(0, this.header[BYTE_LENGTH]), at);
  }

  /** Writes text, cut to fit: used for error reports, which must never fail to send. */
  writeText(text: string): void {
    const { written } = encoder.encodeInto(text, this.bytes);
    this.header[BYTE_LENGTH] = written;
  }

  readText(): string {
    // TextDecoder refuses views on shared memory, hence the copy.
    return decoder.decode(this.readBytes());
  }
}
