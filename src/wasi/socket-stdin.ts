/**
 * An inherited stdin that is a socket (as a supervisor, ssh or `child_process` may hand one over).
 * Pipes and terminals are reopened non-blocking through /proc/self/fd/0, but a socket cannot be
 * reopened that way, and a blocking read of it would hold the guest's thread past every deadline. So
 * the socket is read on a thread of its own (socket-stdin-thread.ts), and the guest's thread waits for
 * its chunks in slices, with the embedder's interrupt check between them, like the socket helper.
 *
 * One reader per thread that asks: descriptor 0 is shared by every guest of the process, as it is
 * for the host. Reading it through libuv makes the socket non-blocking for everyone sharing it, as
 * Node's own process.stdin does.
 */
import type { MessagePort } from 'node:worker_threads';
import { THREAD_EXEC_ARGV } from '../runtime/thread-exec-argv.ts';
import { ERRNO, errnoOf, fail } from './errno.ts';

// Run from source the thread is TypeScript, from dist JavaScript: follow whatever this file is.
const ENTRY = new URL(`./socket-stdin-thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
const SLICE_MS = 50;

export interface StdinThreadData {
  /** Word 0 counts the messages the thread has posted. */
  ctl: Int32Array;
  port: MessagePort;
}

export type StdinMessage = { data: Uint8Array } | { eof: true } | { error: string };

export class SocketStdin {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(4));
  private readonly port: MessagePort;
  private pending: Uint8Array = new Uint8Array(0);
  private asked = false;
  private eof = false;
  private error: string | undefined;

  private constructor() {
    const { MessageChannel, Worker } = process.getBuiltinModule('node:worker_threads');
    const { port1, port2 } = new MessageChannel();
    const data: StdinThreadData = { ctl: this.ctl, port: port2 };
    const worker = new Worker(ENTRY, { name: 'wasm-sandbox-stdin', workerData: data, transferList: [port2], execArgv: THREAD_EXEC_ARGV });
    // Never keeps the process alive; a failed thread shows as EIO on the next read.
    worker.unref();
    worker.on('error', () => {});
    worker.on('exit', () => {
      this.error ??= 'EIO';
      Atomics.add(this.ctl, 0, 1);
      Atomics.notify(this.ctl, 0);
    });
    this.port = port1;
    this.port.unref();
  }

  private static shared: SocketStdin | undefined;

  /** The reader of this thread's descriptor 0, started on first use. */
  static get(): SocketStdin {
    SocketStdin.shared ??= new SocketStdin();
    return SocketStdin.shared;
  }

  /**
   * Reads up to `len` bytes into `dst` at `off`: waits (in slices, calling `checkInterrupt` between
   * them and never longer than `remainingMs` at once) when `wait` is 'block', fails with EAGAIN for
   * 'nonblock' and returns 0 for 'try' when nothing has arrived. Returns 0 at the end of the stream.
   */
  read(dst: Uint8Array, off: number, len: number, wait: 'block' | 'nonblock' | 'try', checkInterrupt: () => void, remainingMs: () => number): number {
    for (;;) {
      if (this.pending.length > 0) {
        const n = Math.min(len, this.pending.length);
        dst.set(this.pending.subarray(0, n), off);
        this.pending = this.pending.subarray(n);
        return n;
      }
      if (this.eof) return 0;
      if (!this.asked) {
        this.asked = true;
        this.port.postMessage(0);
      }
      const seq = Atomics.load(this.ctl, 0);
      if (this.receive()) continue;
      if (this.error !== undefined) fail(errnoOf({ code: this.error }) ?? ERRNO.IO);
      if (wait === 'try') return 0;
      if (wait === 'nonblock') fail(ERRNO.AGAIN);
      const budget = remainingMs();
      Atomics.wait(this.ctl, 0, seq, Math.max(1, Math.min(SLICE_MS, budget > 0 ? budget : SLICE_MS)));
      checkInterrupt();
    }
  }

  /** Takes one message the thread posted, if any; true when it changed what a read can return. */
  private receive(): boolean {
    const { receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
    const got = receiveMessageOnPort(this.port);
    if (got === undefined) return false;
    const message = got.message as StdinMessage;
    this.asked = false;
    if ('data' in message) this.pending = message.data;
    else if ('eof' in message) this.eof = true;
    else this.error = message.error;
    return true;
  }
}
