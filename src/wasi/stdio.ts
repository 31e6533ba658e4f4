import { closeSync, constants as C, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { ResourceLimitExceeded } from '../errors.ts';
import type { StdioMode } from '../security/capabilities.ts';
import { FILETYPE } from './constants.ts';
import { ERRNO, fail } from './errno.ts';
import { filetypeOf } from './filestat.ts';
import { sleepMs } from '../host/sleep.ts';
import { SocketStdin } from './socket-stdin.ts';

/** Output bytes delivered on stdout and stderr together, against `io.maxOutputBytes`. */
export class OutputBudget {
  used = 0;
  readonly max: number | null;
  constructor(max: number | null) {
    this.max = max;
  }
}

function isEagain(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

/** Writes everything to a host descriptor, riding out EAGAIN when Node left it non-blocking. */
function writeAll(fd: number, data: Uint8Array, checkInterrupt: () => void): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off, data.length - off);
    } catch (err) {
      if (!isEagain(err)) throw err;
      checkInterrupt();
      sleepMs(1);
    }
  }
}

/** The host's stdio type for inherited streams, so guests see a tty as a tty and a file as a file. */
function hostFiletype(fd: number): number {
  try {
    return filetypeOf(fstatSync(fd));
  } catch {
    return FILETYPE.UNKNOWN;
  }
}

/**
 * stdout or stderr: `inherit` writes synchronously to the host's descriptor, `capture` buffers,
 * `null` discards. A tap sees every chunk as well. Bytes delivered anywhere count against the
 * shared output budget; past it the allowed prefix is delivered and the guest is stopped.
 */
export class OutputSink {
  private readonly chunks: Uint8Array[] = [];
  private captured = 0;
  private joined: Uint8Array | undefined;
  private type: number | undefined;
  readonly mode: StdioMode;
  private readonly hostFd: number;
  private readonly tap: ((chunk: Uint8Array) => void) | undefined;
  private readonly budget: OutputBudget;
  private readonly checkInterrupt: () => void;

  constructor(mode: StdioMode, hostFd: number, tap: ((chunk: Uint8Array) => void) | undefined, budget: OutputBudget, checkInterrupt: () => void) {
    this.mode = mode;
    this.hostFd = hostFd;
    this.tap = tap;
    this.budget = budget;
    this.checkInterrupt = checkInterrupt;
  }

  get filetype(): number {
    if (this.type === undefined) this.type = this.mode === 'inherit' ? hostFiletype(this.hostFd) : FILETYPE.CHARACTER_DEVICE;
    return this.type;
  }

  /** `data` may be a view of guest memory: anything kept is copied. */
  write(data: Uint8Array): void {
    if (this.mode === 'null' && this.tap === undefined) return;
    const max = this.budget.max;
    const before = this.budget.used;
    let chunk = data;
    if (max !== null && before + data.length > max) chunk = data.subarray(0, Math.max(0, max - before));
    if (chunk.length > 0) {
      this.budget.used = before + chunk.length;
      const copy = this.mode === 'capture' || this.tap !== undefined ? chunk.slice() : chunk;
      if (this.mode === 'capture') {
        this.chunks.push(copy);
        this.captured += copy.length;
        this.joined = undefined;
      } else if (this.mode === 'inherit') {
        writeAll(this.hostFd, chunk, this.checkInterrupt);
      }
      this.tap?.(copy);
    }
    if (chunk.length < data.length) throw new ResourceLimitExceeded('output-bytes', max!, before + data.length);
  }

  bytes(): Uint8Array {
    if (this.joined === undefined) {
      const out = new Uint8Array(this.captured);
      let off = 0;
      for (const c of this.chunks) {
        out.set(c, off);
        off += c.length;
      }
      this.chunks.length = 0;
      if (out.length > 0) this.chunks.push(out);
      this.joined = out;
    }
    return this.joined;
  }
}

/**
 * A stdin whose bytes are produced while the guest runs: returns at most `max` bytes (at least one),
 * waiting for them as long as it must, or null at EOF. A worker thread can wait for its main thread
 * this way; the main thread itself never can.
 */
export type StdinPull = (max: number) => Uint8Array | null;

/**
 * stdin: `capture` serves the bytes the embedder supplied (all at once, or pulled as they come),
 * `null` is always at EOF, `inherit` reads the host's descriptor 0. Where possible the host stdin is
 * reopened non-blocking so a waiting read can notice the embedder's deadline instead of blocking the
 * thread indefinitely; a socket is read on a thread of its own instead (socket-stdin.ts).
 */
export class InputSource {
  readonly mode: StdioMode;
  private readonly data: Uint8Array;
  private readonly pull: StdinPull | undefined;
  private pulledAll = false;
  private pos = 0;
  private fd = -1;
  private ownsFd = false;
  /** Set when the host's stdin is a socket, which cannot be reopened non-blocking. */
  private socket: SocketStdin | undefined;
  private type: number | undefined;

  constructor(mode: StdioMode, data: Uint8Array | string | StdinPull | undefined) {
    this.mode = mode;
    this.pull = typeof data === 'function' ? data : undefined;
    this.data = typeof data === 'string' ? new TextEncoder().encode(data) : data instanceof Uint8Array ? data : new Uint8Array(0);
  }

  get filetype(): number {
    if (this.type === undefined) this.type = this.mode === 'inherit' ? hostFiletype(0) : FILETYPE.CHARACTER_DEVICE;
    return this.type;
  }

  /** Bytes known to be readable without blocking, or undefined when unknown (inherited stdin). */
  available(): number | undefined {
    if (this.mode === 'capture' && this.pull) return this.pulledAll ? 0 : undefined;
    if (this.mode === 'capture') return this.data.length - this.pos;
    if (this.mode === 'null') return 0;
    return undefined;
  }

  private hostFd(): number {
    if (this.fd === -1) {
      this.fd = 0;
      // A regular file needs no waiting and must keep sharing the host's offset; pipes and ttys get a
      // private non-blocking description (Linux /proc reopen) so waits can be interrupted.
      const type = hostFiletype(0);
      if (type === FILETYPE.SOCKET_STREAM || type === FILETYPE.SOCKET_DGRAM) {
        this.socket = SocketStdin.get();
      } else if (process.platform === 'linux' && type !== FILETYPE.REGULAR_FILE) {
        try {
          this.fd = openSync('/proc/self/fd/0', C.O_RDONLY | C.O_NONBLOCK);
          this.ownsFd = true;
        } catch {
          this.fd = 0;
        }
      }
    }
    return this.fd;
  }

  /**
   * Reads into `dst`. `block` waits for data (interruptibly where possible), `nonblock` fails with
   * EAGAIN when none is ready, `try` returns 0 instead. A boolean means nonblock (true) or block
   * (false), the form the wasi:cli adapter uses.
   */
  read(dst: Uint8Array, off: number, len: number, mode: boolean | 'block' | 'nonblock' | 'try', checkInterrupt: () => void, remainingMs: () => number): number {
    const wait = mode === true ? 'nonblock' : mode === false ? 'block' : mode;
    if (len === 0) return 0;
    if (this.mode === 'null') return 0;
    if (this.mode === 'capture' && this.pull) {
      // Whether bytes are waiting is only known by asking, so a non-blocking read waits like a
      // blocking one; only a read that already has data ('try') declines to ask for more.
      if (this.pulledAll || wait === 'try') return 0;
      const chunk = this.pull(len);
      if (chunk === null || chunk.length === 0) {
        this.pulledAll = true;
        return 0;
      }
      const n = Math.min(len, chunk.length);
      dst.set(chunk.subarray(0, n), off);
      return n;
    }
    if (this.mode === 'capture') {
      const n = Math.min(len, this.data.length - this.pos);
      dst.set(this.data.subarray(this.pos, this.pos + n), off);
      this.pos += n;
      return n;
    }
    const fd = this.hostFd();
    if (this.socket !== undefined) return this.socket.read(dst, off, len, wait, checkInterrupt, remainingMs);
    for (;;) {
      try {
        return readSync(fd, dst, off, len, null);
      } catch (err) {
        if (!isEagain(err)) throw err;
        if (wait === 'try') return 0;
        if (wait === 'nonblock') fail(ERRNO.AGAIN);
        checkInterrupt();
        sleepMs(Math.max(1, Math.min(10, remainingMs())));
      }
    }
  }

  close(): void {
    if (this.ownsFd) {
      try {
        closeSync(this.fd);
      } catch {
        // ignore
      }
      this.ownsFd = false;
      this.fd = -1;
    }
  }
}

export class Stdio {
  readonly stdin: InputSource;
  readonly stdout: OutputSink;
  readonly stderr: OutputSink;
  constructor(stdin: InputSource, stdout: OutputSink, stderr: OutputSink) {
    this.stdin = stdin;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}
