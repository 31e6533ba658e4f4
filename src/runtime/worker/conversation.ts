/**
 * The main thread's side of the channel protocol for one instance: sends a command, and until the
 * worker replies, serves the requests it makes (host calls, output, streamed stdin, observer events). The reply is
 * awaited with Atomics.waitAsync, so the event loop stays free and a deadline timer can fire and
 * terminate the thread however the guest is spinning.
 */
import type { ListenerAddress } from '../../wasi/socket-protocol.ts';
import { Timeout, Trap, type WasmSandboxError } from '../../errors.ts';
import type { WasmResult } from '../types.ts';
import {
  type Channel, CMD_ANSWER, CMD_ANSWER_THROW, EVENT_LISTENING, EVENT_VIOLATION, REPLY_DONE, REPLY_FAILED, REQUEST_EVENT, REQUEST_HOST_CALL, REQUEST_OUTPUT,
  REQUEST_STDIN,   WORKER_GONE, type ChannelValue,
} from './channel.ts';
import { IN_THREAD_GRACE_MS } from './worker-limits.ts';
import { ErrorLedger } from './error-codec.ts';
import type { WorkerThread } from './worker-thread.ts';

export interface Deadline {
  readonly at: number;
  readonly kind: 'call' | 'initialization' | 'instance-lifetime';
  readonly timeoutMs: number;
  /** What the elapsed time of a Timeout is measured from. */
  readonly since: number;
}

/** What the instance does for its guest on the main thread. */
export interface RequestHandlers {
  /**
   * Runs a host function; returns the values to hand back (already checked to be crossable), or a
   * promise of them for an async host function: the guest waits in its import until it settles.
   */
  hostCall(index: number, args: ChannelValue[]): unknown[] | Promise<unknown[]>;
  output(fd: number, chunk: Uint8Array): void;
  /** The next bytes of a streamed stdin (at most `max`, at least one), or null at its end; the guest waits meanwhile. */
  stdinRead(max: number): Uint8Array | null | Promise<Uint8Array | null>;
  event(kind: number, payload: Error | { capability: string; detail: string } | ListenerAddress[]): void;
}

/** What answers a stdin read: bytes in the byte area rather than values. */
class StdinAnswer {
  readonly bytes: Uint8Array | null;
  constructor(bytes: Uint8Array | null) {
    this.bytes = bytes;
  }
}

type Answer = unknown[] | StdinAnswer;

interface Session {
  readonly deadline: Deadline | undefined;
  readonly errors: ErrorLedger;
  timer?: ReturnType<typeof setTimeout>;
  /** Set when the thread reported its meter's Timeout: until then it may unwind its guest and answer. */
  unwindUntil?: number;
  /** Whether the deadline already waited once more for the thread's own answer. */
  graced?: boolean;
}

/** How long a thread that reported its guest stopped may take to unwind it and answer before it is terminated. */
const UNWIND_GRACE_MS = 250;

/** How long an idle worker may take to answer a command that runs no guest code. */
const IDLE_ANSWER_MS = 5000;

export class Conversation {
  private readonly thread: WorkerThread;
  private readonly channel: Channel;
  private readonly handlers: RequestHandlers;
  private readonly onTimeout: (error: Timeout) => void;
  private session: Session | undefined;
  /** Requests being served right now; a host context may talk to the guest only inside one. */
  private depth = 0;

  constructor(thread: WorkerThread, handlers: RequestHandlers, onTimeout: (error: Timeout) => void) {
    this.thread = thread;
    this.channel = thread.channel;
    this.handlers = handlers;
    this.onTimeout = onTimeout;
  }

  get busy(): boolean {
    return this.session !== undefined;
  }

  /** Sends a command and serves the worker until it replies; rejects with the worker's error or its death. */
  async send(
    cmd: number, op: number, args: readonly unknown[] | undefined, arity: number, deadline: Deadline | undefined, write?: (channel: Channel) => void,
  ): Promise<WasmResult> {
    const { thread, channel } = this;
    if (thread.dead) throw thread.dead;
    if (this.session) throw new Trap('unknown', 'internal error: a second command was sent while one was running');
    const session: Session = { deadline, errors: new ErrorLedger() };
    this.session = session;
    if (deadline) session.timer = setTimeout(() => this.expire(session), Math.max(0, deadline.at - performance.now()));
    thread.hold();
    const gone = () => thread.dead !== undefined;
    try {
      channel.op = op;
      if (args) channel.writeValues(args);
      write?.(channel);
      let sent = cmd;
      channel.pass(sent);
      for (;;) {
        const turn = await channel.waitAsync(sent, gone);
        if (turn === REPLY_DONE) return channel.readResult(arity) as WasmResult;
        if (turn === REPLY_FAILED) throw session.errors.read(channel);
        if (turn === WORKER_GONE) throw thread.dead;
        const served = this.serve(turn, session);
        sent = typeof served === 'number' ? served : await served;
        if (sent !== WORKER_GONE) channel.pass(sent);
      }
    } finally {
      clearTimeout(session.timer);
      thread.letGo();
      this.session = undefined;
    }
  }

  /** A command that runs no guest code, sent while idle and awaited synchronously (microseconds). */
  sendIdle(cmd: number, args: readonly unknown[], write?: (channel: Channel) => void): void {
    const { thread, channel } = this;
    if (thread.dead) throw thread.dead;
    if (this.session) throw new Trap('unknown', 'internal error: an idle command was sent while one was running');
    channel.writeValues(args);
    write?.(channel);
    channel.pass(cmd);
    const turn = channel.waitSync(cmd, IDLE_ANSWER_MS);
    if (turn === REPLY_DONE) return;
    if (turn === REPLY_FAILED) throw new ErrorLedger().read(channel);
    throw thread.dead ?? new Trap('unknown', 'the worker thread did not answer');
  }

  /**
   * A request from a running host function to its guest (memory access, a call back in). `write`
   * fills the channel once it is safe to; the main thread then blocks until the answer, bounded by
   * the call's deadline, serving any host calls the guest makes meanwhile.
   */
  request(cmd: number, write: (channel: Channel) => void): void {
    const { thread, channel } = this;
    const session = this.session;
    if (!session || this.depth === 0) {
      throw new Trap('host-error', 'the host context of a worker instance can only be used while one of its host functions is running');
    }
    if (thread.dead) throw thread.dead;
    write(channel);
    let sent = cmd;
    channel.pass(sent);
    for (;;) {
      const until = session.unwindUntil ?? session.deadline?.at;
      const left = until === undefined ? Infinity : Math.max(0, until - performance.now());
      const turn = channel.waitSync(sent, left);
      if (turn === 'timed-out') {
        if (session.deadline && !thread.dead) this.stop(session);
        throw thread.dead ?? new Trap('unknown', 'the worker thread did not answer');
      }
      if (turn === REPLY_DONE) return;
      if (turn === REPLY_FAILED) throw session.errors.read(channel);
      const served = this.serve(turn, session);
      // This thread is blocked inside a host function that uses its context synchronously: it cannot wait for a promise.
      sent = typeof served === 'number' ? served : this.refuseAsync(served, session);
      if (sent === WORKER_GONE) throw thread.dead!;
      channel.pass(sent);
    }
  }

  private refuseAsync(served: Promise<number>, session: Session): number {
    served.catch(() => {});
    session.errors.write(this.channel, new Trap('host-error', 'an async host function was called while another host function was using the host context synchronously (reading memory or calling back into the guest); the main thread cannot wait for it there'));
    return CMD_ANSWER_THROW;
  }

  /** Serves one request of the worker; returns the command that answers it (a promise of it for an async host function). */
  private serve(turn: number, session: Session): number | Promise<number> {
    const { channel, handlers } = this;
    this.depth++;
    let pending = false;
    try {
      let values: Answer | Promise<Answer> = [];
      if (turn === REQUEST_HOST_CALL) {
        values = handlers.hostCall(channel.op, channel.readValues());
      } else if (turn === REQUEST_STDIN) {
        const chunk = handlers.stdinRead(channel.a);
        values = chunk instanceof Promise ? chunk.then((c) => new StdinAnswer(c)) : new StdinAnswer(chunk);
      } else if (turn === REQUEST_OUTPUT) {
        handlers.output(channel.op, channel.readBytes());
      } else if (turn === REQUEST_EVENT) {
        const kind = channel.op;
        const detail = kind === EVENT_VIOLATION || kind === EVENT_LISTENING ? JSON.parse(channel.readText()) : session.errors.read(channel);
        if (detail instanceof Timeout) session.unwindUntil ??= performance.now() + UNWIND_GRACE_MS;
        handlers.event(kind, detail);
      } else {
        throw new Trap('unknown', `the worker thread sent unexpected message ${turn}`);
      }
      if (values instanceof Promise) {
        pending = true;
        return this.answerLater(values, session);
      }
      return this.answer(values, session);
    } catch (err) {
      return this.answerError(err, session);
    } finally {
      if (!pending) this.depth--;
    }
  }

  private answer(values: Answer, _session: Session): number {
    if (this.thread.dead) return WORKER_GONE;
    if (values instanceof StdinAnswer) {
      this.channel.writeBytes(values.bytes ?? new Uint8Array(0));
      this.channel.writeValues([values.bytes === null ? 1 : 0]);
    } else {
      this.channel.writeValues(values);
    }
    return CMD_ANSWER;
  }

  private answerError(err: unknown, session: Session): number {
    if (this.thread.dead) return WORKER_GONE;
    session.errors.write(this.channel, err);
    return CMD_ANSWER_THROW;
  }

  /**
   * Waits for an async host function (or a streamed stdin's next chunk) while the guest waits in its import. The host context stays
   * usable meanwhile (depth stays raised); the thread's death (a deadline) ends the wait at once.
   */
  private async answerLater(values: Promise<Answer>, session: Session): Promise<number> {
    let stopWatching: (() => void) | undefined;
    const died = new Promise<'dead'>((resolve) => {
      if (this.thread.dead) resolve('dead');
      else stopWatching = this.thread.onDeath(() => resolve('dead'));
    });
    try {
      const settled = await Promise.race([values.then((v) => ({ v }), (e: unknown) => ({ e })), died]);
      if (settled === 'dead') return WORKER_GONE;
      return 'e' in settled ? this.answerError(settled.e, session) : this.answer(settled.v, session);
    } finally {
      stopWatching?.();
      this.depth--;
    }
  }

  private expire(session: Session): void {
    if (this.session !== session || !session.deadline || this.thread.dead) return;
    const d = session.deadline;
    // Timers run on the event loop's cached clock and can fire a little early: never stop a guest before its time.
    const early = d.at - performance.now();
    if (early > 0) {
      session.timer = setTimeout(() => this.expire(session), Math.ceil(early));
      return;
    }
    // The thread may have stopped its guest itself while this timer waited its turn on a busy event
    // loop: its answer (the limit event, then the Timeout of its meter) is read instead of
    // terminating the thread, which then keeps serving. It gets a bounded time to finish unwinding;
    // one that never answers (a guest catching the stop) is terminated.
    const turn = this.channel.turn();
    const unwinding = session.unwindUntil !== undefined && performance.now() < session.unwindUntil;
    if (turn === REPLY_DONE || turn === REPLY_FAILED || unwinding) {
      session.timer = setTimeout(() => this.expire(session), 1);
      return;
    }
    if (turn === REQUEST_EVENT && !session.graced) {
      session.graced = true;
      session.timer = setTimeout(() => this.expire(session), IN_THREAD_GRACE_MS);
      return;
    }
    this.stop(session);
  }

  private stop(session: Session): void {
    const d = session.deadline!;
    this.onTimeout(new Timeout(d.kind, d.timeoutMs, performance.now() - d.since));
  }

  /** The error the thread died of, if it is dead. */
  get death(): WasmSandboxError | undefined {
    return this.thread.dead;
  }
}
