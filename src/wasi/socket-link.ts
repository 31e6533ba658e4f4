/**
 * The guest thread's end of the socket helper (socket-helper.ts): starts it, makes synchronous
 * requests of it, and waits for its socket events. Every wait is an Atomics.wait on the shared
 * control words in slices of at most SLICE_MS, with `checkInterrupt` between slices and never past
 * `remainingMs`, so a deadline or cancellation still stops a guest blocked in accept or recv. The
 * helper is unreferenced: it never keeps the process alive.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import { InvalidArguments, Trap } from '../errors.ts';
import { THREAD_EXEC_ARGV } from '../runtime/thread-exec-argv.ts';
import {
  CTL_EVENT, CTL_GONE, CTL_REPLY, CTL_WORDS, STARTUP_ID, type HelperData, type ListenerSpec, type Reply, type Request,
} from './socket-protocol.ts';

// Run from source the helper is TypeScript, from dist JavaScript: follow whatever this file is.
const ENTRY = new URL(`./socket-helper${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** Starting a thread and binding takes ~0.1 s; the margin is for loaded machines. */
const STARTUP_MS = 15_000;
/** Every request is answered without waiting on the network; silence this long means the helper is wedged. */
const ANSWER_MS = 5_000;
/** How long closing the host may spend flushing what the guest sent before connections are reset. */
export const LINGER_MS = 2_000;
const SLICE_MS = 50;

export interface LinkHooks {
  checkInterrupt(): void;
  remainingMs(): number;
}

type RequestBody = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class SocketLink {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly ctl: Int32Array;
  private readonly hooks: LinkHooks;
  private nextId = STARTUP_ID + 1;
  private closed = false;
  private bound: readonly { host: string; port: number }[] = [];

  private constructor(worker: Worker, port: MessagePort, ctl: Int32Array, hooks: LinkHooks) {
    this.worker = worker;
    this.port = port;
    this.ctl = ctl;
    this.hooks = hooks;
  }

  /** The listeners as bound, in the order they were asked for. */
  get addresses(): readonly { host: string; port: number }[] {
    return this.bound;
  }

  /** Starts a helper and binds `specs`, blocking until they listen; throws InvalidArguments when one cannot be bound. */
  static start(specs: readonly ListenerSpec[], hooks: LinkHooks): SocketLink {
    const ctl = new Int32Array(new SharedArrayBuffer(CTL_WORDS * 4));
    // Loaded here, not at import: only guests given listeners start a helper.
    const { MessageChannel, Worker } = process.getBuiltinModule('node:worker_threads');
    const { port1, port2 } = new MessageChannel();
    const data: HelperData = { ctl, port: port2, listeners: specs.map((s) => ({ host: s.host, port: s.port })), lingerMs: LINGER_MS };
    const worker = new Worker(ENTRY, { name: 'wasm-sandbox-sockets', workerData: data, transferList: [port2], execArgv: THREAD_EXEC_ARGV });
    worker.unref();
    // Errors arrive on this thread's event loop, which a running guest may hold for a long time; the
    // waits below notice a dead helper on their own, so this only keeps the event from crashing the host.
    worker.on('error', () => {});
    const link = new SocketLink(worker, port1, ctl, hooks);
    let r: Reply;
    try {
      r = link.await(STARTUP_ID, STARTUP_MS, false);
    } catch (err) {
      link.kill();
      throw err;
    }
    if (r.code !== undefined) {
      link.kill();
      throw new InvalidArguments(`cannot listen on ${r.message ?? r.code}`);
    }
    link.bound = r.addresses ?? [];
    return link;
  }

  /** A request answered by the helper; a dead or wedged helper is a host fault that stops the guest. */
  request(body: RequestBody, transfer?: ArrayBuffer[]): Reply {
    this.alive();
    const id = this.nextId++;
    this.port.postMessage({ ...body, id }, transfer);
    return this.await(id, ANSWER_MS, true);
  }

  /** A one-way notice (closing a socket): nothing the guest does next depends on it having been done. */
  post(body: RequestBody): void {
    if (this.closed || Atomics.load(this.ctl, CTL_GONE) !== 0) return;
    this.port.postMessage({ ...body, id: this.nextId++ });
  }

  /** The event counter; read it before the request whose answer may be "not yet", then wait on it. */
  seq(): number {
    return Atomics.load(this.ctl, CTL_EVENT);
  }

  /** Waits one slice (≤ maxMs) for an event after `seq`, then lets the embedder interrupt. */
  waitEvent(seq: number, maxMs = Infinity): void {
    this.alive();
    const budget = this.hooks.remainingMs();
    // Past the budget without being stopped: keep waiting in whole slices rather than spin.
    const slice = Math.max(1, Math.min(SLICE_MS, maxMs, budget > 0 ? budget : SLICE_MS));
    Atomics.wait(this.ctl, CTL_EVENT, seq, slice);
    this.hooks.checkInterrupt();
  }

  /**
   * Stops every listener at once, gives open connections up to LINGER_MS to flush what the guest
   * sent, then ends the helper. Blocks the calling thread for that long at most.
   */
  close(): void {
    if (this.closed) return;
    if (Atomics.load(this.ctl, CTL_GONE) === 0) {
      try {
        const id = this.nextId++;
        this.port.postMessage({ op: 'close-all', id });
        this.await(id, LINGER_MS + ANSWER_MS, false);
      } catch {
        // Ending the thread below closes whatever it still holds.
      }
    }
    this.kill();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private kill(): void {
    this.closed = true;
    this.port.close();
    this.worker.terminate().catch(() => {});
  }

  private alive(): void {
    if (this.closed) throw new Trap('host-error', 'the socket helper is closed');
    if (Atomics.load(this.ctl, CTL_GONE) !== 0) throw new Trap('host-error', 'the socket helper thread stopped');
  }

  private await(id: number, timeoutMs: number, interruptible: boolean): Reply {
    const { receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
    const end = performance.now() + timeoutMs;
    for (;;) {
      // Read before looking for the message: a reply posted in between then ends the wait at once.
      const seen = Atomics.load(this.ctl, CTL_REPLY);
      const m = receiveMessageOnPort(this.port);
      if (m !== undefined) {
        const r = m.message as Reply;
        // Answers to requests an interrupt abandoned are dropped here.
        if (r.id === id) return r;
        continue;
      }
      if (Atomics.load(this.ctl, CTL_GONE) !== 0) throw new Trap('host-error', 'the socket helper thread stopped');
      const left = end - performance.now();
      if (left <= 0) throw new Trap('host-error', `the socket helper did not answer within ${timeoutMs} ms`);
      Atomics.wait(this.ctl, CTL_REPLY, seen, Math.max(1, Math.min(left, SLICE_MS)));
      if (interruptible) this.hooks.checkInterrupt();
    }
  }
}
