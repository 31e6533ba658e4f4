/**
 * An instance living on a worker thread, driven from the main thread. A call writes its arguments
 * into the channel, passes the turn and awaits the reply without blocking the event loop, so a
 * deadline timer can still fire and terminate the thread however the guest is spinning. Host
 * functions run here, on the main thread, while the guest waits inside the import.
 */
import { FunctionNotFound, InstanceNotFound, InstanceUnusable, InvalidArguments, ResourceLimitExceeded, Timeout, Trap, WasmSandboxError } from '../../errors.ts';
import type { FuncSignature, ModuleInfo } from '../../module/module-info.ts';
import type { TimeLimits } from '../../security/resource-limits.ts';
import { argumentChecker } from '../arguments.ts';
import { toSandboxError } from '../traps.ts';
import type { HostFunction, InstanceMetrics, RuntimeObserver, SyncCall, WasmInstance, WasmResult, WasmValue } from '../types.ts';
import {
  BYTES_CAPACITY, CMD_CALL, CMD_HOST_RETURN, CMD_HOST_THROW, CMD_INSTANTIATE, CMD_MEM_READ, CMD_MEM_WRITE, CMD_REENTER,
  CMD_RELEASE, REPLY_DONE, REPLY_FAILED, REPLY_HOST_CALL, WORKER_GONE,
} from './channel.ts';
import type { InstantiateMessage, PortableConfig } from './config-transfer.ts';
import { readError, writeError } from './error-codec.ts';
import { readMetrics } from './metrics-mirror.ts';
import { WorkerHostContext } from './worker-host-context.ts';
import type { WorkerPool } from './worker-pool.ts';
import type { WorkerThread } from './worker-thread.ts';

interface Deadline {
  readonly at: number;
  readonly kind: 'call' | 'instance-lifetime';
  readonly timeoutMs: number;
  /** What the elapsed time of a Timeout is measured from. */
  readonly since: number;
}

/** One exchange with the thread: a call, the instantiation, or the release. */
interface Session {
  readonly start: number;
  readonly deadline: Deadline | undefined;
  /** What host functions threw during the exchange, so that those errors come back as themselves. */
  readonly hostErrors: unknown[];
  timer?: ReturnType<typeof setTimeout>;
}

interface ExportEntry {
  readonly name: string;
  readonly signature: FuncSignature;
  readonly arity: number;
  readonly check: (args: readonly unknown[]) => WasmValue[];
  readonly takesReferences: boolean;
}

export interface WorkerInstanceInit {
  readonly id: string;
  readonly info: ModuleInfo;
  readonly thread: WorkerThread;
  readonly pool: WorkerPool;
  readonly portable: PortableConfig;
  /** Host functions by bridge index (the order of `portable.hostFunctions`). */
  readonly hostFunctions: readonly HostFunction[];
  readonly time: TimeLimits;
  readonly observer: RuntimeObserver;
}

type State = 'starting' | 'ready' | 'unusable' | 'destroyed';

const NUMERIC = new Set(['i32', 'i64', 'f32', 'f64']);

export class WorkerInstance implements WasmInstance {
  readonly id: string;
  readonly functions: ReadonlyMap<string, FuncSignature>;
  private readonly exportsByName = new Map<string, number>();
  private readonly exportList: ExportEntry[] = [];
  private readonly thread: WorkerThread;
  private readonly pool: WorkerPool;
  private readonly hostFunctions: readonly HostFunction[];
  private readonly hostNames: readonly [string, string][];
  private readonly time: TimeLimits;
  private readonly observer: RuntimeObserver;
  private readonly ctx: WorkerHostContext;
  private state: State = 'starting';
  private unusableReason = '';
  /** Set once the thread is no longer this instance's: back in the pool, or stopped. */
  private threadGone = false;
  private stopWatchingThread: () => void;
  private session: Session | undefined;
  private hostDepth = 0;
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  private createdAt = 0;
  private lifetimeTimer: ReturnType<typeof setTimeout> | undefined;
  private wallTimeMs = 0;
  /** Traps the worker could not count because it died of them. */
  private lostTraps = 0;
  private finalMetrics: InstanceMetrics | undefined;
  private releasing: Promise<void> | undefined;

  private constructor(init: WorkerInstanceInit) {
    this.id = init.id;
    this.thread = init.thread;
    this.pool = init.pool;
    this.hostFunctions = init.hostFunctions;
    this.hostNames = init.portable.hostFunctions;
    this.time = init.time;
    this.observer = init.observer;
    const functions = new Map<string, FuncSignature>();
    for (const exp of init.info.exports) {
      if (exp.kind !== 'function' || !exp.signature) continue;
      functions.set(exp.name, exp.signature);
      this.exportsByName.set(exp.name, this.exportList.length);
      this.exportList.push({
        name: exp.name,
        signature: exp.signature,
        arity: exp.signature.results.length,
        check: argumentChecker(exp.name, exp.signature),
        takesReferences: exp.signature.params.some((p) => !NUMERIC.has(p)),
      });
    }
    this.functions = functions;
    this.ctx = new WorkerHostContext(this.id, {
      readMemory: (ptr, len) => this.readMemory(ptr, len),
      writeMemory: (ptr, bytes) => this.writeMemory(ptr, bytes),
      callGuest: (name, args) => this.callGuest(name, args),
    });
    this.stopWatchingThread = this.thread.onDeath((error) => {
      if (this.threadGone) return;
      this.threadGone = true;
      this.markUnusable(`its worker thread stopped: ${error.message}`);
    });
  }

  /** Instantiates on the thread (running the start function, under the call deadline). */
  static async create(init: WorkerInstanceInit, module: WebAssembly.Module): Promise<WorkerInstance> {
    const self = new WorkerInstance(init);
    const message: InstantiateMessage = { id: init.id, module, info: init.info, config: init.portable, functions: self.exportList.map((e) => e.name) };
    try {
      init.thread.post(message);
    } catch (err) {
      self.giveBackThread();
      throw new InvalidArguments(`the instance configuration cannot be sent to a worker thread: ${(err as Error).message}`);
    }
    self.createdAt = performance.now();
    try {
      await self.exchange(CMD_INSTANTIATE, 0, undefined, 0, self.deadline(self.createdAt));
    } catch (err) {
      self.state = 'destroyed';
      // A failed instantiation leaves the thread holding nothing: it can serve the next instance.
      if (!self.threadGone) self.giveBackThread();
      throw toSandboxError(err, 'instantiation');
    }
    self.state = 'ready';
    const lifetime = init.time.instanceLifetimeMs;
    if (lifetime !== null) {
      self.lifetimeTimer = setTimeout(() => self.lifetimeEnded(), Math.max(0, self.createdAt + lifetime - performance.now()));
      self.lifetimeTimer.unref();
    }
    return self;
  }

  /** Calls are asynchronous only: the guest runs on another thread. */
  syncHandle(name: string): SyncCall | undefined {
    this.entry(name);
    return undefined;
  }

  call(name: string, args: readonly WasmValue[]): Promise<WasmResult> {
    let index: number;
    let checked: WasmValue[];
    try {
      if (this.state !== 'ready') this.throwNotReady();
      index = this.entry(name);
      checked = this.checkArguments(index, args);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.busy) return this.run(index, checked);
    return new Promise((resolve, reject) => this.waiting.push(() => this.run(index, checked).then(resolve, reject)));
  }

  private async run(index: number, args: WasmValue[]): Promise<WasmResult> {
    this.busy = true;
    try {
      // Re-checked: an earlier call in the queue may have left the instance unusable.
      if (this.state !== 'ready') this.throwNotReady();
      const entry = this.exportList[index];
      try {
        return await this.exchange(CMD_CALL, index, args, entry.arity, this.deadline(performance.now()));
      } catch (err) {
        throw this.failed(err, entry.name);
      }
    } finally {
      this.busy = false;
      this.waiting.shift()?.();
    }
  }

  private entry(name: string): number {
    const index = this.exportsByName.get(name);
    if (index === undefined) throw new FunctionNotFound(name, [...this.functions.keys()]);
    return index;
  }

  /** Validated here, before anything is sent, so a bad argument costs no round trip. */
  private checkArguments(index: number, args: readonly unknown[]): WasmValue[] {
    const entry = this.exportList[index];
    const checked = entry.check(args);
    if (entry.takesReferences) {
      for (let i = 0; i < checked.length; i++) {
        const v = checked[i];
        if (v !== null && (typeof v === 'object' || typeof v === 'function')) {
          throw new InvalidArguments(`argument ${i} of '${entry.name}': a reference cannot be passed to an instance on a worker thread (only null can)`, { parameter: i, expected: entry.signature.params[i] });
        }
      }
    }
    return checked;
  }

  private deadline(now: number): Deadline | undefined {
    const { callTimeoutMs, instanceLifetimeMs } = this.time;
    let deadline: Deadline | undefined;
    if (callTimeoutMs !== null) deadline = { at: now + callTimeoutMs, kind: 'call', timeoutMs: callTimeoutMs, since: now };
    if (instanceLifetimeMs !== null) {
      const end = this.createdAt + instanceLifetimeMs;
      if (!deadline || end < deadline.at) deadline = { at: end, kind: 'instance-lifetime', timeoutMs: instanceLifetimeMs, since: this.createdAt };
    }
    return deadline;
  }

  /**
   * Sends one command and serves the thread until it answers: host calls it makes in between run
   * here. The thread is held (kept from letting the process exit) only for the duration.
   */
  private async exchange(cmd: number, op: number, args: readonly WasmValue[] | undefined, arity: number, deadline: Deadline | undefined): Promise<WasmResult> {
    const thread = this.thread;
    const channel = thread.channel;
    const session: Session = { start: performance.now(), deadline, hostErrors: [] };
    if (thread.dead) throw this.deathError();
    this.session = session;
    if (deadline) session.timer = setTimeout(() => this.expire(session), Math.max(0, deadline.at - session.start));
    thread.hold();
    const gone = () => thread.dead !== undefined;
    try {
      channel.op = op;
      if (args) channel.writeValues(args);
      let sent = cmd;
      channel.pass(sent);
      for (;;) {
        const turn = await channel.waitAsync(sent, gone);
        if (turn === REPLY_DONE) return channel.readResult(arity) as WasmResult;
        if (turn === REPLY_FAILED) throw readError(channel, session.hostErrors);
        if (turn === WORKER_GONE) throw this.deathError();
        if (turn !== REPLY_HOST_CALL) throw new Trap('unknown', `the worker thread answered with unexpected message ${turn}`);
        sent = this.serveHostCall(session);
        if (sent !== WORKER_GONE) channel.pass(sent);
      }
    } finally {
      clearTimeout(session.timer);
      thread.letGo();
      this.session = undefined;
      this.wallTimeMs += performance.now() - session.start;
    }
  }

  private deathError(): WasmSandboxError {
    const error = this.thread.dead ?? new Trap('unknown', 'the worker thread stopped');
    if (error instanceof Trap) this.lostTraps++;
    return error;
  }

  /** The deadline passed: the thread is terminated wherever the guest is, and the waiter wakes to a Timeout. */
  private expire(session: Session): void {
    if (this.session !== session || !session.deadline || this.thread.dead) return;
    const d = session.deadline;
    const error = new Timeout(d.kind, d.timeoutMs, performance.now() - d.since);
    this.markUnusable(error.message);
    this.threadGone = true;
    this.pool.discard(this.thread, error);
  }

  private lifetimeEnded(): void {
    // A running call carries the same deadline and is stopped by its own timer.
    if (this.busy || this.state !== 'ready') return;
    const lifetime = this.time.instanceLifetimeMs ?? 0;
    this.markUnusable(new Timeout('instance-lifetime', lifetime, performance.now() - this.createdAt).message);
    void this.releaseThread();
  }

  // --- host functions ---------------------------------------------------------------------

  /** Runs the host function the guest is waiting on; returns the command that answers it. */
  private serveHostCall(session: Session): number {
    const channel = this.thread.channel;
    const index = channel.op;
    const args = channel.readValues();
    const fn = this.hostFunctions[index];
    this.hostDepth++;
    try {
      if (!fn) throw new Trap('host-error', `the guest called host function number ${index}, which does not exist`);
      const result = fn(this.ctx, ...args);
      if (this.thread.dead) return WORKER_GONE;
      const values = result === undefined ? [] : Array.isArray(result) ? result : [result];
      const bad = channel.writeValues(values);
      if (bad !== -1) {
        const what = values[bad] instanceof Promise ? 'a promise (host functions must be synchronous)' : `a ${typeof values[bad]}`;
        throw new Trap('host-error', `host function '${this.hostNames[index].join('.')}' returned ${what}, which cannot cross to the worker thread; return numbers, bigints, booleans, null or undefined`);
      }
      return CMD_HOST_RETURN;
    } catch (err) {
      if (this.thread.dead) return WORKER_GONE;
      session.hostErrors.push(err);
      writeError(channel, err, session.hostErrors.length - 1);
      return CMD_HOST_THROW;
    } finally {
      this.hostDepth--;
    }
  }

  /** The session a host context request belongs to; only valid while a host function runs. */
  private bridgeSession(): Session {
    if (!this.session || this.hostDepth === 0) {
      throw new Trap('host-error', 'the host context of a worker instance can only be used while one of its host functions is running');
    }
    if (this.thread.dead) throw this.thread.dead;
    return this.session;
  }

  /**
   * A synchronous request to the thread, which is waiting inside a host import. The main thread
   * blocks, bounded by the call's deadline; nested host calls (from a call back into the guest) are
   * served from here.
   */
  private transact(session: Session, cmd: number): void {
    const channel = this.thread.channel;
    let sent = cmd;
    channel.pass(sent);
    for (;;) {
      const left = session.deadline ? Math.max(0, session.deadline.at - performance.now()) : Infinity;
      const turn = channel.waitSync(sent, left);
      if (turn === 'timed-out') {
        this.expire(session);
        throw this.thread.dead ?? new Trap('unknown', 'the worker thread did not answer');
      }
      if (turn === REPLY_DONE) return;
      if (turn === REPLY_FAILED) throw readError(channel, session.hostErrors);
      if (turn !== REPLY_HOST_CALL) throw new Trap('unknown', `the worker thread answered with unexpected message ${turn}`);
      sent = this.serveHostCall(session);
      if (sent === WORKER_GONE) throw this.thread.dead!;
      channel.pass(sent);
    }
  }

  private readMemory(ptr: number, len: number): Uint8Array {
    const session = this.bridgeSession();
    const channel = this.thread.channel;
    channel.setOperands(ptr, len, 0);
    this.transact(session, CMD_MEM_READ);
    if (len <= BYTES_CAPACITY) return channel.readBytes();
    // Allocated only now that the first chunk proved the range valid.
    const out = new Uint8Array(len);
    channel.readBytesInto(out, 0);
    for (let offset = BYTES_CAPACITY; offset < len; offset += BYTES_CAPACITY) {
      channel.setOperands(ptr, len, offset);
      this.transact(session, CMD_MEM_READ);
      channel.readBytesInto(out, offset);
    }
    return out;
  }

  private writeMemory(ptr: number, bytes: Uint8Array): void {
    const session = this.bridgeSession();
    const channel = this.thread.channel;
    let offset = 0;
    do {
      channel.writeBytes(bytes.subarray(offset, offset + BYTES_CAPACITY));
      channel.setOperands(ptr, bytes.length, offset);
      this.transact(session, CMD_MEM_WRITE);
      offset += BYTES_CAPACITY;
    } while (offset < bytes.length);
  }

  private callGuest(name: string, args: readonly WasmValue[]): WasmResult {
    const session = this.bridgeSession();
    const index = this.entry(name);
    const checked = this.checkArguments(index, args);
    const channel = this.thread.channel;
    channel.op = index;
    channel.writeValues(checked);
    this.transact(session, CMD_REENTER);
    return channel.readResult(this.exportList[index].arity) as WasmResult;
  }

  // --- state ------------------------------------------------------------------------------

  private throwNotReady(): never {
    if (this.state === 'destroyed') throw new InstanceNotFound(this.id);
    throw new InstanceUnusable(this.id, this.unusableReason);
  }

  private failed(err: unknown, name: string): WasmSandboxError {
    const error = toSandboxError(err, `call to '${name}'`);
    if (error instanceof Trap) this.observer.onTrap?.(this.id, error);
    else if (error instanceof ResourceLimitExceeded) this.observer.onLimit?.(this.id, error);
    // The same rule as in-process: a guest stopped mid-flight may hold broken invariants.
    if (error instanceof Timeout || (error instanceof ResourceLimitExceeded && error.limit !== 'fuel')) this.markUnusable(error.message);
    if (this.thread.dead) this.markUnusable(`its worker thread stopped: ${error.message}`);
    return error;
  }

  private markUnusable(reason: string): void {
    if (this.state === 'ready' || this.state === 'starting') {
      this.state = 'unusable';
      this.unusableReason = reason;
    }
  }

  metrics(): InstanceMetrics {
    const m = this.finalMetrics ? { ...this.finalMetrics } : readMetrics(this.thread.channel.metrics);
    m.wallTimeMs = this.wallTimeMs;
    m.traps += this.lostTraps;
    return m;
  }

  async destroy(): Promise<void> {
    if (this.state === 'destroyed') return;
    const running = this.busy;
    this.state = 'destroyed';
    clearTimeout(this.lifetimeTimer);
    if (this.threadGone) return;
    if (running) {
      this.threadGone = true;
      this.pool.discard(this.thread, new InstanceUnusable(this.id, 'it was destroyed while a call was running'));
      return;
    }
    await this.releaseThread();
  }

  /** Has the thread drop the instance and go back to the pool (once, however many ask). */
  private releaseThread(): Promise<void> {
    this.releasing ??= this.release();
    return this.releasing;
  }

  private async release(): Promise<void> {
    if (this.threadGone) return;
    this.finalMetrics = readMetrics(this.thread.channel.metrics);
    try {
      await this.exchange(CMD_RELEASE, 0, undefined, 0, undefined);
    } catch {
      return; // the thread died meanwhile; the pool has already forgotten it
    }
    this.giveBackThread();
  }

  private giveBackThread(): void {
    this.threadGone = true;
    this.stopWatchingThread();
    this.pool.release(this.thread);
  }
}
