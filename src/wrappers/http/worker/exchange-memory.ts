/**
 * The shared memory between the server's thread and one component worker thread: two rings of
 * records (requests and request bodies in, responses out) and two bells. Each ring has one writer
 * and one reader, who only ever advance their own position, so no locks are needed: a record's
 * bytes are written before the position that publishes them is stored, and read after it is loaded.
 * A side that has nothing to do sleeps on its bell (the worker in Atomics.wait, the server with
 * Atomics.waitAsync, so its event loop runs on), and the other side rings it after writing (the
 * worker may hold one ring back, see `sendToServer`).
 */

// Int32 control words.
/** Rung by the server: a new request, body bytes, room in the response ring, or the end of a body. */
const WORKER_BELL = 0;
/** Rung by the worker: response records, room in the request ring, or readiness. */
const SERVER_BELL = 1;
/** The worker has started (1) and can take requests. */
const READY = 2;
/** Set by a writer waiting for room in the ring it writes: the reader rings it after making room. */
const IN_ROOM_WANTED = 3;
const OUT_ROOM_WANTED = 4;
const CONTROL_WORDS = 8;
/**
 * Requests can wait in the request ring behind the one the worker is serving. Each has a claim word
 * (by sequence number modulo CLAIM_SLOTS) holding its number and state: the worker takes a queued
 * request before serving it, and the server can withdraw one the worker has not taken yet (to send
 * it elsewhere, when the request ahead of it turns out to be slow). A compare-and-swap on the word
 * decides which happens, never both.
 */
export const CLAIM_SLOTS = 64;
const QUEUED = 1;
const TAKEN = 2;
const WITHDRAWN = 3;
const SEQ_MASK = 0x0fffffff;
/** Each ring's own words: the writer's and the reader's positions. */
const WRITE = 0;
const READ = 1;

/** Server → worker records. */
export const REQUEST_HEAD = 1;
export const BODY_CHUNK = 2;
export const BODY_END = 3;
/** The body was cut off (too large, or the client went away): the guest's next read fails. */
export const BODY_ABORT = 4;
/** Worker → server records. */
export const RESPONSE_HEAD = 5;
export const RESPONSE_CHUNK = 6;
export const RESPONSE_END = 7;
/** The handler has returned (or failed); the worker takes no further part in this request. */
export const DONE = 8;

const HEADER_BYTES = 8;
const KiB = 1024;
export const IN_RING_BYTES = 256 * KiB;
export const OUT_RING_BYTES = 256 * KiB;
/** Bodies travel in records of at most this much, so that a ring always holds several. */
export const MAX_PIECE = 64 * KiB;
/**
 * Response heads longer than this are refused (more than Node's own HTTP clients accept); at three
 * bytes a character one still fits a record beside a whole body of MAX_PIECE. Request heads are held
 * to 16 KiB by the server's parser already.
 */
export const MAX_HEAD_CHARS = 16 * KiB;

export interface RingRecord {
  readonly type: number;
  /** The record's text part ('' when it has none). */
  readonly text: string;
  /** Its bytes part: a copy, never a view of the shared memory. */
  readonly bytes: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * One direction: records of [type and text length, bytes length, text, bytes], each starting on an
 * 8-byte boundary. Text is encoded straight into the ring and decoded straight out of it (heads and
 * errors), bytes are copied (bodies).
 */
export class Ring {
  private readonly positions: Int32Array;
  private readonly data: Buffer;
  private readonly words: Int32Array;
  private readonly mask: number;
  readonly capacity: number;

  constructor(buffer: SharedArrayBuffer, offset: number, capacity: number) {
    this.positions = new Int32Array(buffer, offset, 2);
    this.data = Buffer.from(buffer, offset + 8, capacity);
    this.words = new Int32Array(buffer, offset + 8, capacity / 4);
    this.capacity = capacity;
    this.mask = capacity - 1;
  }

  static bytes(capacity: number): number {
    return 8 + capacity;
  }

  private room(): number {
    return this.capacity - ((Atomics.load(this.positions, WRITE) - Atomics.load(this.positions, READ)) >>> 0);
  }

  /**
   * Writes one record; false (nothing written) when there is no room for it. Text needs room for
   * its worst case, three bytes per UTF-16 unit.
   */
  write(type: number, text: string, bytes: Uint8Array = EMPTY): boolean {
    const worst = text.length * 3;
    if (HEADER_BYTES + ((worst + bytes.length + 7) & ~7) > this.room()) return false;
    const write = Atomics.load(this.positions, WRITE);
    const at = write & this.mask;
    const body = (at + HEADER_BYTES) & this.mask;
    let textBytes = 0;
    if (text.length > 0) {
      if (this.capacity - body >= worst) textBytes = encoder.encodeInto(text, this.data.subarray(body, body + worst)).written;
      else {
        const encoded = encoder.encode(text);
        this.copyIn(body, encoded);
        textBytes = encoded.length;
      }
    }
    if (bytes.length > 0) this.copyIn((body + textBytes) & this.mask, bytes);
    this.words[at >> 2] = type | (textBytes << 8);
    this.words[(at >> 2) + 1] = bytes.length;
    Atomics.store(this.positions, WRITE, (write + HEADER_BYTES + ((textBytes + bytes.length + 7) & ~7)) | 0);
    return true;
  }

  /** The next record, taken out of the ring; undefined when there is none. */
  read(): RingRecord | undefined {
    const read = Atomics.load(this.positions, READ);
    if (read === Atomics.load(this.positions, WRITE)) return undefined;
    const at = read & this.mask;
    const word = this.words[at >> 2];
    const textBytes = word >>> 8;
    const length = this.words[(at >> 2) + 1];
    const body = (at + HEADER_BYTES) & this.mask;
    let text = '';
    if (textBytes > 0) {
      text = body + textBytes <= this.capacity ? this.data.toString('utf8', body, body + textBytes) : Buffer.from(this.copyOut(body, textBytes)).toString('utf8');
    }
    const bytes = length > 0 ? this.copyOut((body + textBytes) & this.mask, length) : EMPTY;
    Atomics.store(this.positions, READ, (read + HEADER_BYTES + ((textBytes + length + 7) & ~7)) | 0);
    return { type: word & 0xff, text, bytes };
  }

  private copyIn(at: number, bytes: Uint8Array): void {
    const first = Math.min(bytes.length, this.capacity - at);
    this.data.set(first === bytes.length ? bytes : bytes.subarray(0, first), at);
    if (first < bytes.length) this.data.set(bytes.subarray(first), 0);
  }

  private copyOut(at: number, length: number): Uint8Array {
    const out = Buffer.allocUnsafe(length);
    const first = Math.min(length, this.capacity - at);
    this.data.copy(out, 0, at, at + first);
    if (first < length) this.data.copy(out, first, 0, length - first);
    return out;
  }
}

/** Milliseconds on a clock both threads share (each thread's performance.now() has its own origin). */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Two Float64s after the control words: since when the worker has been busy (wall clock, ms; 0 while
 * it waits), and how long it takes to serve a request lately (ms, smoothed).
 */
const TIMES_OFFSET = CONTROL_WORDS * 4;
const CLAIMS_OFFSET = TIMES_OFFSET + 16;
const RINGS_OFFSET = CLAIMS_OFFSET + CLAIM_SLOTS * 4;

export class ExchangeMemory {
  readonly buffer: SharedArrayBuffer;
  private readonly control: Int32Array;
  private readonly claims: Int32Array;
  private readonly times: Float64Array;
  /** Worker side: a record was written without ringing the server. */
  private serverRingDeferred = false;
  /** Server side: a ring of the worker is scheduled. */
  private workerRingScheduled = false;
  /** Server → worker. */
  readonly requests: Ring;
  /** Worker → server. */
  readonly responses: Ring;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(RINGS_OFFSET + Ring.bytes(IN_RING_BYTES) + Ring.bytes(OUT_RING_BYTES))) {
    this.buffer = buffer;
    this.control = new Int32Array(buffer, 0, CONTROL_WORDS);
    this.claims = new Int32Array(buffer, CLAIMS_OFFSET, CLAIM_SLOTS);
    this.times = new Float64Array(buffer, TIMES_OFFSET, 2);
    this.requests = new Ring(buffer, RINGS_OFFSET, IN_RING_BYTES);
    this.responses = new Ring(buffer, RINGS_OFFSET + Ring.bytes(IN_RING_BYTES), OUT_RING_BYTES);
  }

  // --- how busy the worker is ---------------------------------------------------------------------
  // Torn or stale reads only misjudge where one request goes, so these need no atomics.

  /** Worker: it starts on something (a request, a fresh instance). */
  markBusy(): void {
    this.times[0] = wallClock();
  }

  /** Worker: it is about to wait for a request. */
  markWaiting(): void {
    this.times[0] = 0;
  }

  /** Worker: it served a request in `ms`. */
  served(ms: number): void {
    const last = this.times[1];
    this.times[1] = last === 0 ? ms : last * 0.8 + ms * 0.2;
  }

  /** Server: for how long the worker has been on what it is doing now (0 when it waits). */
  busyFor(): number {
    const since = this.times[0];
    return since === 0 ? 0 : Math.max(0, wallClock() - since);
  }

  /** Server: how long the worker takes to serve a request lately (0 before its first). */
  serviceMs(): number {
    return this.times[1];
  }

  // --- claims --------------------------------------------------------------------------------

  /** Server: request `seq` is about to be queued. */
  offer(seq: number): void {
    Atomics.store(this.claims, seq % CLAIM_SLOTS, ((seq & SEQ_MASK) << 3) | QUEUED);
  }

  /** Worker: takes request `seq` to serve it; false when it was withdrawn (or its slot reused). */
  take(seq: number): boolean {
    const word = (seq & SEQ_MASK) << 3;
    return Atomics.compareExchange(this.claims, seq % CLAIM_SLOTS, word | QUEUED, word | TAKEN) === (word | QUEUED);
  }

  /** Server: withdraws request `seq` unless the worker has taken it already. */
  withdraw(seq: number): boolean {
    const word = (seq & SEQ_MASK) << 3;
    return Atomics.compareExchange(this.claims, seq % CLAIM_SLOTS, word | QUEUED, word | WITHDRAWN) === (word | QUEUED);
  }

  /** Server: whether the worker has taken request `seq`. */
  taken(seq: number): boolean {
    return Atomics.load(this.claims, seq % CLAIM_SLOTS) === (((seq & SEQ_MASK) << 3) | TAKEN);
  }

  // --- bells ---------------------------------------------------------------------------------

  ringWorker(): void {
    Atomics.add(this.control, WORKER_BELL, 1);
    Atomics.notify(this.control, WORKER_BELL);
  }

  /**
   * Server side: rings the worker once the server's thread is through with the events at hand, so
   * that the requests (and body chunks) of one turn of its event loop cost the worker one wake.
   */
  ringWorkerSoon(): void {
    if (this.workerRingScheduled) return;
    this.workerRingScheduled = true;
    setImmediate(() => {
      this.workerRingScheduled = false;
      this.ringWorker();
    });
  }

  ringServer(): void {
    this.serverRingDeferred = false;
    Atomics.add(this.control, SERVER_BELL, 1);
    Atomics.notify(this.control, SERVER_BELL);
  }

  /** Worker side: rings the server if a record was written without ringing (see sendToServer). */
  flushServerRing(): void {
    if (this.serverRingDeferred) this.ringServer();
  }

  /** Wakes whoever waits on the server's bell without ringing it (the worker is gone). */
  wakeServer(): void {
    Atomics.notify(this.control, SERVER_BELL);
  }

  workerBell(): number {
    return Atomics.load(this.control, WORKER_BELL);
  }

  serverBell(): number {
    return Atomics.load(this.control, SERVER_BELL);
  }

  /** Sleeps until the worker's bell has been rung since it read `seen` (or `ms` passed). */
  waitWorkerBell(seen: number, ms = Infinity): void {
    // Whatever the server has not been told about yet must not wait with this thread.
    this.flushServerRing();
    Atomics.wait(this.control, WORKER_BELL, seen, ms);
  }

  /** Resolves once the server's bell has been rung since it read `seen`. */
  async waitServerBell(seen: number): Promise<void> {
    const waiting = Atomics.waitAsync(this.control, SERVER_BELL, seen);
    if (waiting.async) await waiting.value;
  }

  // --- readiness and room --------------------------------------------------------------------

  get ready(): boolean {
    return Atomics.load(this.control, READY) === 1;
  }

  markReady(): void {
    Atomics.store(this.control, READY, 1);
    this.ringServer();
  }

  /** The server waits for room in the request ring: the worker rings once it has read some. */
  wantRequestRoom(): void {
    Atomics.store(this.control, IN_ROOM_WANTED, 1);
  }

  /** Called by the worker after reading requests: rings the server if it waits for room. */
  requestRoomMade(): void {
    if (Atomics.exchange(this.control, IN_ROOM_WANTED, 0) === 1) this.ringServer();
  }

  wantResponseRoom(): void {
    Atomics.store(this.control, OUT_ROOM_WANTED, 1);
  }

  responseRoomMade(): void {
    if (Atomics.exchange(this.control, OUT_ROOM_WANTED, 0) === 1) this.ringWorker();
  }

  /**
   * Worker side: writes a response record, sleeping while the ring is full, and rings the server.
   * `deferRing` leaves the ring to the next record, the next wait of this thread, or `flushServerRing`.
   */
  sendToServer(type: number, text: string, bytes?: Uint8Array, deferRing = false): void {
    while (!this.responses.write(type, text, bytes)) {
      this.wantResponseRoom();
      const seen = this.workerBell();
      // The server may have made room between the failed write and the flag.
      if (this.responses.write(type, text, bytes)) break;
      this.waitWorkerBell(seen);
    }
    if (deferRing) this.serverRingDeferred = true;
    else this.ringServer();
  }
}
