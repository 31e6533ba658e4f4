/**
 * An instance living on a worker thread, driven from the main thread. Arguments are checked here,
 * before anything is sent; host functions and output taps run here while the guest waits inside
 * the import; the thread stops a guest at its call deadline itself (its meter reads the shared epoch
 * clock) and keeps serving, and a guest it cannot stop in time, or past its lifetime, is stopped by
 * terminating the thread: the instance is then unusable while a fresh thread takes its place.
 */
import type { ListenerAddress } from '../../wasi/socket-protocol.ts';
import { EXTISM_LOG_LEVELS, type ExtismLogLevel } from '../../communication/extism-kernel.ts';
import { dataFunctions, type DataFunction } from '../../communication/guest-abi.ts';
import { checkPayload } from '../../communication/payload-limit.ts';
import { FunctionNotFound, InstanceNotFound, InstanceUnusable, InvalidArguments, ResourceLimitExceeded, Timeout, Trap, type WasmSandboxError } from '../../errors.ts';
import type { FuncSignature, ModuleInfo } from '../../module/module-info.ts';
import type { TimeLimits } from '../../security/resource-limits.ts';
import { argumentChecker } from '../arguments.ts';
import { toSandboxError, withModuleFrames } from '../traps.ts';
import type { FrameMap } from '../../module/frame-map.ts';
import {
  isStdinStream, type CapturedOutput, type HostFunction, type InstanceMetrics, type ResolvedInstanceConfig, type RuntimeObserver, type SyncCall, type WasmInstance,
  type WasmResult, type WasmValue,
} from '../types.ts';
import { CapturedStream } from './captured-output.ts';
import {
  BYTES_CAPACITY, CMD_ADD_FUEL, CMD_CALL, CMD_CALL_DATA, CMD_INSTANTIATE, CMD_MEM_READ, CMD_MEM_WRITE, CMD_PEEK, CMD_POKE, CMD_REENTER, CMD_RELEASE,
  CMD_RUN_COMMAND, CMD_STAGE_IN, CMD_STAGE_OUT, EVENT_LIMIT, EVENT_LISTENING, EVENT_TRAP, isCrossable, LOG_OUTPUT_BASE, type Channel, type ChannelValue,
} from './channel.ts';
import type { InstantiateMessage, PortableConfig } from './config-transfer.ts';
import { Conversation, type Deadline } from './conversation.ts';
import { readFuel, readMetrics } from './metrics-mirror.ts';
import { IN_THREAD_GRACE_MS } from './worker-limits.ts';
import { WorkerHostContext } from './worker-host-context.ts';
import type { WorkerPool } from './worker-pool.ts';
import type { WorkerThread } from './worker-thread.ts';

interface ExportEntry {
  readonly name: string;
  readonly signature: FuncSignature;
  readonly arity: number;
  readonly check: (args: readonly unknown[]) => WasmValue[];
  readonly takesReferences: boolean;
}

export interface WorkerInstanceInit {
  readonly id: string;
  /** The module as the embedder gave it: its exports are what callers see. */
  readonly info: ModuleInfo;
  readonly thread: WorkerThread;
  readonly pool: WorkerPool;
  readonly config: ResolvedInstanceConfig;
  readonly portable: PortableConfig;
  /** Host functions by bridge index (the order of `portable.hostFunctions`). */
  readonly hostFunctions: readonly HostFunction[];
  readonly observer: RuntimeObserver;
  /** Maps the frames the thread reports (of the compiled module) to the module as given. */
  readonly frames: () => FrameMap;
}

type State = 'starting' | 'ready' | 'unusable' | 'destroyed';

const NUMERIC = new Set(['i32', 'i64', 'f32', 'f64']);
const EMPTY = new Uint8Array(0);

export class WorkerInstance implements WasmInstance {
  readonly id: string;
  readonly functions: ReadonlyMap<string, FuncSignature>;
  /** The guest runs on its own thread, where host functions are plain blocking stubs: nothing suspends. */
  readonly suspending = false;
  readonly dataFunctions: ReadonlyMap<string, DataFunction>;
  private readonly dataIndex = new Map<string, number>();
  private readonly maxPayloadBytes: number | null;
  private readonly onLog: ((level: ExtismLogLevel, message: string) => void) | undefined;
  private readonly exportsByName = new Map<string, number>();
  private readonly exportList: ExportEntry[] = [];
  private readonly thread: WorkerThread;
  private readonly pool: WorkerPool;
  private readonly conversation: Conversation;
  private readonly hostFunctions: readonly HostFunction[];
  private readonly hostNames: readonly [string, string][];
  private readonly time: TimeLimits;
  private readonly fuelLimited: boolean;
  private readonly observer: RuntimeObserver;
  private readonly frames: () => FrameMap;
  private readonly mappedTraps = new WeakMap<Trap, Trap>();
  private readonly ctx: WorkerHostContext;
  private readonly taps: Record<number, ((chunk: Uint8Array) => void) | undefined>;
  private readonly captured: Record<number, CapturedStream | undefined>;
  private state: State = 'starting';
  private unusableReason = '';
  /** Set once the thread is no longer this instance's: back in the pool, or stopped. */
  private threadGone = false;
  private readonly stopWatchingThread: () => void;
  private readonly waiting: (() => void)[] = [];
  private running = false;
  private createdAt = 0;
  private lifetimeTimer: ReturnType<typeof setTimeout> | undefined;
  private wallTimeMs = 0;
  /** Traps the worker could not count because it died of them. */
  private lostTraps = 0;
  /** Fuel added while a call was running, handed to the worker before the next one. */
  private pendingFuel = 0;
  private final: { metrics: InstanceMetrics; fuel: number | null } | undefined;
  private releasing: Promise<void> | undefined;
  private readonly stdin: StdinReader | undefined;

  private constructor(init: WorkerInstanceInit) {
    this.id = init.id;
    this.thread = init.thread;
    this.pool = init.pool;
    this.hostFunctions = init.hostFunctions;
    this.hostNames = init.portable.hostFunctions;
    this.time = init.config.resourceLimits.time;
    this.fuelLimited = init.config.resourceLimits.cpu.fuel !== null;
    this.observer = init.observer;
    this.frames = init.frames;
    const stdio = init.config.capabilities.stdio;
    this.taps = { 1: init.config.wasi.onStdout, 2: init.config.wasi.onStderr };
    this.captured = { 1: stdio.stdout === 'capture' ? new CapturedStream() : undefined, 2: stdio.stderr === 'capture' ? new CapturedStream() : undefined };
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
    this.dataFunctions = dataFunctions(init.info);
    [...this.dataFunctions.keys()].forEach((name, i) => this.dataIndex.set(name, i));
    this.maxPayloadBytes = init.config.resourceLimits.io.maxPayloadBytes;
    this.onLog = init.config.extism.onLog;
    const stdin = init.config.wasi.stdin;
    this.stdin = isStdinStream(stdin) ? new StdinReader(stdin) : undefined;
    this.conversation = new Conversation(
      this.thread,
      {
        hostCall: (index, args) => this.hostCall(index, args),
        stdinRead: (max) => {
          if (!this.stdin) throw new Trap('unknown', 'the worker thread read a streamed stdin the instance does not have');
          return this.stdin.read(max);
        },
        output: (fd, chunk) => {
          if (fd >= LOG_OUTPUT_BASE) {
            this.onLog?.(EXTISM_LOG_LEVELS[fd - LOG_OUTPUT_BASE] ?? 'info', new TextDecoder().decode(chunk));
            return;
          }
          this.captured[fd]?.append(chunk);
          this.taps[fd]?.(chunk);
        },
        event: (kind, payload) => {
          if (kind === EVENT_TRAP) this.observer.onTrap?.(this.id, payload instanceof Trap ? this.inModuleTerms(payload) : payload as Error);
          else if (kind === EVENT_LIMIT) this.observer.onLimit?.(this.id, payload as Error);
          else if (kind === EVENT_LISTENING) init.config.wasi.onListening?.(payload as ListenerAddress[]);
          else this.observer.onViolation?.(this.id, payload as { capability: string; detail: string });
        },
      },
      (timeout) => this.timedOut(timeout),
    );
    this.ctx = new WorkerHostContext(this.id, {
      readMemory: (ptr, len) => this.hostReadMemory(ptr, len),
      writeMemory: (ptr, bytes) => this.hostWriteMemory(ptr, bytes),
      callGuest: (name, args) => this.callGuest(name, args),
    });
    this.stopWatchingThread = this.thread.onDeath((error) => {
      if (this.threadGone) return;
      this.threadGone = true;
      this.markUnusable(`its worker thread stopped: ${error.message}`);
    });
  }

  /** Instantiates on the thread; the start function and `_initialize` run there, under the initialisation deadline. */
  static async create(init: WorkerInstanceInit, module: WebAssembly.Module, compiledInfo: ModuleInfo): Promise<WorkerInstance> {
    const self = new WorkerInstance(init);
    const message: InstantiateMessage = {
      id: init.id, module, info: compiledInfo, config: init.portable, functions: self.exportList.map((e) => e.name), dataFunctions: [...self.dataFunctions.keys()],
    };
    try {
      init.thread.post(message);
    } catch (err) {
      self.giveBackThread();
      throw new InvalidArguments(`the instance configuration cannot be sent to a worker thread: ${(err as Error).message}`);
    }
    self.createdAt = performance.now();
    try {
      await self.conversation.send(CMD_INSTANTIATE, 0, undefined, 0, self.deadline(self.createdAt, 'initialization'));
    } catch (err) {
      self.state = 'destroyed';
      // A failed instantiation leaves the thread holding nothing: it can serve the next instance.
      if (!self.threadGone) self.giveBackThread();
      const error = toSandboxError(err, 'instantiation');
      throw error instanceof Trap ? withModuleFrames(error, init.frames()) : error;
    }
    self.state = 'ready';
    const lifetime = self.time.instanceLifetimeMs;
    if (lifetime !== null) {
      self.lifetimeTimer = setTimeout(() => self.lifetimeEnded(), Math.max(0, self.createdAt + lifetime - performance.now()));
      self.lifetimeTimer.unref();
    }
    return self;
  }

  // --- calls ------------------------------------------------------------------------------

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
    const entry = this.exportList[index];
    return this.exclusive(() => this.guestCall(CMD_CALL, index, checked, entry.arity, entry.name));
  }

  runCommand(): Promise<number> {
    if (this.state !== 'ready') {
      try {
        this.throwNotReady();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.exclusive(async () => Number(await this.guestCall(CMD_RUN_COMMAND, 0, undefined, 1, '_start')));
  }

  /** One command at a time per thread; later calls wait their turn, as they would behind a synchronous call. */
  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.running = true;
      try {
        return await job();
      } finally {
        this.running = false;
        this.waiting.shift()?.();
      }
    };
    if (!this.running) return run();
    return new Promise<T>((resolve, reject) => this.waiting.push(() => run().then(resolve, reject)));
  }

  private async guestCall(
    cmd: number, op: number, args: WasmValue[] | undefined, arity: number, name: string, write?: (channel: Channel) => void,
  ): Promise<WasmResult> {
    // Re-checked: a call queued behind another may find the instance unusable by now.
    if (this.state !== 'ready') this.throwNotReady();
    const start = performance.now();
    try {
      if (this.pendingFuel > 0) this.flushFuel();
      return await this.conversation.send(cmd, op, args, arity, this.deadline(start), write);
    } catch (err) {
      throw this.failed(err, name);
    } finally {
      this.wallTimeMs += performance.now() - start;
    }
  }

  private entry(name: string): number {
    const index = this.exportsByName.get(name);
    if (index === undefined) throw new FunctionNotFound(name, [...this.functions.keys()]);
    return index;
  }

  private checkArguments(index: number, args: readonly unknown[]): WasmValue[] {
    const entry = this.exportList[index];
    const checked = entry.check(args);
    if (entry.takesReferences) {
      for (let i = 0; i < checked.length; i++) {
        if (!isCrossable(checked[i])) {
          throw new InvalidArguments(`argument ${i} of '${entry.name}': a reference cannot be passed to an instance on a worker thread (only null can)`, { parameter: i, expected: entry.signature.params[i] });
        }
      }
    }
    return checked;
  }

  private deadline(now: number, kind: 'call' | 'initialization' = 'call'): Deadline | undefined {
    const { instanceLifetimeMs } = this.time;
    const ms = kind === 'call' ? this.time.callTimeoutMs : this.time.initTimeoutMs;
    let deadline: Deadline | undefined;
    // The thread stops a guest at its call deadline itself; the kill comes a grace later (see IN_THREAD_GRACE_MS).
    if (ms !== null) deadline = { at: now + ms + (kind === 'call' ? IN_THREAD_GRACE_MS : 0), kind, timeoutMs: ms, since: now };
    if (instanceLifetimeMs !== null) {
      const end = this.createdAt + instanceLifetimeMs;
      if (!deadline || end < deadline.at) deadline = { at: end, kind: 'instance-lifetime', timeoutMs: instanceLifetimeMs, since: this.createdAt };
    }
    return deadline;
  }

  private timedOut(error: Timeout): void {
    this.markUnusable(error.message);
    this.threadGone = true;
    this.stopWatchingThread();
    this.pool.discard(this.thread, error);
  }

  private lifetimeEnded(): void {
    // A running call carries the same deadline and is stopped by its own timer.
    if (this.running || this.state !== 'ready') return;
    const lifetime = this.time.instanceLifetimeMs ?? 0;
    this.markUnusable(new Timeout('instance-lifetime', lifetime, performance.now() - this.createdAt).message);
    void this.releaseThread();
  }

  /** A trap from the thread with its frames mapped to the module as given; one object per trap, as events and rejections share it. */
  private inModuleTerms(trap: Trap): Trap {
    let mapped = this.mappedTraps.get(trap);
    if (!mapped) {
      mapped = withModuleFrames(trap, this.frames());
      this.mappedTraps.set(trap, mapped);
    }
    return mapped;
  }

  private failed(err: unknown, name: string): WasmSandboxError {
    const reported = toSandboxError(err, `call to '${name}'`);
    const error = reported instanceof Trap ? this.inModuleTerms(reported) : reported;
    // The worker reported its own errors to the observer already; a dead worker could not.
    if (reported === this.thread.dead) {
      if (error instanceof Trap) {
        this.lostTraps++;
        this.observer.onTrap?.(this.id, error);
      } else if (error instanceof ResourceLimitExceeded || error instanceof Timeout) {
        this.observer.onLimit?.(this.id, error);
      }
    }
    // The same rule as in-process: a guest stopped mid-flight may hold broken invariants.
    if (error instanceof Timeout || (error instanceof ResourceLimitExceeded && error.limit !== 'fuel' && error.limit !== 'payload-bytes')) this.markUnusable(error.message);
    if (this.thread.dead) this.markUnusable(`its worker thread stopped: ${error.message}`);
    return error;
  }

  // --- host functions ---------------------------------------------------------------------

  /** Runs a host function; an async one (or any returning a promise) is awaited while the guest waits in its import. */
  private hostCall(index: number, args: ChannelValue[]): unknown[] | Promise<unknown[]> {
    const fn = this.hostFunctions[index];
    if (!fn) throw new Trap('host-error', `the guest called host function number ${index}, which does not exist`);
    const result = fn(this.ctx, ...args);
    if (result instanceof Promise) return result.then((settled) => this.crossable(index, settled));
    return this.crossable(index, result);
  }

  private crossable(index: number, result: unknown): unknown[] {
    const values = result === undefined ? [] : Array.isArray(result) ? result : [result];
    for (const v of values) {
      if (!isCrossable(v)) {
        throw new Trap('host-error', `host function '${this.hostNames[index].join('.')}' returned a value of type ${typeof v}, which cannot cross to the worker thread; return numbers, bigints, booleans, null or undefined`);
      }
    }
    return values;
  }

  // --- structured calls and memory from the embedder --------------------------------------

  callData(name: string, input: Uint8Array): Promise<Uint8Array> {
    let index: number;
    try {
      if (this.state !== 'ready') this.throwNotReady();
      const found = this.dataIndex.get(name);
      if (found === undefined) {
        const numeric = this.functions.has(name) ? ` ('${name}' is a numeric export: call it with callFunction)` : '';
        throw new FunctionNotFound(name, [...this.dataFunctions.keys()], numeric);
      }
      index = found;
      // Checked here as well, so that an oversized input is refused before it is copied to the thread.
      checkPayload(this.maxPayloadBytes, input.length, `input of '${name}'`);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.exclusive(async () => {
      this.stageIn(input);
      await this.guestCall(CMD_CALL_DATA, index, undefined, 1, name, (ch) => {
        ch.setOperands(input.length, 0, 0);
        if (input.length <= BYTES_CAPACITY) ch.writeBytes(input);
      });
      return this.takeOut();
    });
  }

  readMemory(ptr: number, len: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(ptr) || !Number.isSafeInteger(len) || ptr < 0 || len < 0 || ptr + len > 2 ** 32) {
      return Promise.reject(new InvalidArguments(`memory range [${ptr}, ${ptr}+${len}) is not a valid 32-bit range`));
    }
    return this.idle(() => {
      this.conversation.sendIdle(CMD_PEEK, [], (ch) => ch.setOperands(ptr, len, 0));
      return this.takeOut();
    });
  }

  writeMemory(ptr: number, bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) return Promise.reject(new InvalidArguments('writeMemory expects a Uint8Array'));
    if (!Number.isSafeInteger(ptr) || ptr < 0 || ptr + bytes.length > 2 ** 32) {
      return Promise.reject(new InvalidArguments(`memory range [${ptr}, ${ptr}+${bytes.length}) is not a valid 32-bit range`));
    }
    return this.idle(() => {
      this.stageIn(bytes);
      this.conversation.sendIdle(CMD_POKE, [], (ch) => {
        ch.setOperands(ptr, bytes.length, 0);
        if (bytes.length <= BYTES_CAPACITY) ch.writeBytes(bytes);
      });
    });
  }

  /** A command that runs no guest code, in turn with the calls. */
  private idle<T>(job: () => T): Promise<T> {
    if (this.state !== 'ready') {
      try {
        this.throwNotReady();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.exclusive(async () => {
      if (this.state !== 'ready') this.throwNotReady();
      return job();
    });
  }

  /** Sends bytes too large for one transfer ahead of the command that uses them. */
  private stageIn(bytes: Uint8Array): void {
    if (bytes.length <= BYTES_CAPACITY) return;
    for (let offset = 0; offset < bytes.length; offset += BYTES_CAPACITY) {
      this.conversation.sendIdle(CMD_STAGE_IN, [], (ch) => {
        ch.writeBytes(bytes.subarray(offset, offset + BYTES_CAPACITY));
        ch.setOperands(bytes.length, 0, offset);
      });
    }
  }

  /** The bytes a command replied with: the length in the values, the first chunk inline, the rest fetched. */
  private takeOut(): Uint8Array {
    const channel = this.thread.channel;
    const total = Number(channel.readValues()[0]);
    if (total <= BYTES_CAPACITY) return channel.readBytes();
    const out = new Uint8Array(total);
    channel.readBytesInto(out, 0);
    for (let offset = BYTES_CAPACITY; offset < total; offset += BYTES_CAPACITY) {
      this.conversation.sendIdle(CMD_STAGE_OUT, [], (ch) => ch.setOperands(0, 0, offset));
      channel.readBytesInto(out, offset);
    }
    return out;
  }

  private hostReadMemory(ptr: number, len: number): Uint8Array {
    this.conversation.request(CMD_MEM_READ, (ch) => ch.setOperands(ptr, len, 0));
    const channel = this.thread.channel;
    if (len <= BYTES_CAPACITY) return channel.readBytes();
    // Allocated only now that the first chunk proved the range valid.
    const out = new Uint8Array(len);
    channel.readBytesInto(out, 0);
    for (let offset = BYTES_CAPACITY; offset < len; offset += BYTES_CAPACITY) {
      this.conversation.request(CMD_MEM_READ, (ch) => ch.setOperands(ptr, len, offset));
      channel.readBytesInto(out, offset);
    }
    return out;
  }

  private hostWriteMemory(ptr: number, bytes: Uint8Array): void {
    let offset = 0;
    do {
      const at = offset;
      this.conversation.request(CMD_MEM_WRITE, (ch) => {
        ch.writeBytes(bytes.subarray(at, at + BYTES_CAPACITY));
        ch.setOperands(ptr, bytes.length, at);
      });
      offset += BYTES_CAPACITY;
    } while (offset < bytes.length);
  }

  private callGuest(name: string, args: readonly WasmValue[]): WasmResult {
    const index = this.entry(name);
    const checked = this.checkArguments(index, args);
    this.conversation.request(CMD_REENTER, (ch) => {
      ch.op = index;
      ch.writeValues(checked);
    });
    return this.thread.channel.readResult(this.exportList[index].arity) as WasmResult;
  }

  // --- output, fuel, metrics --------------------------------------------------------------

  output(): CapturedOutput {
    return { stdout: this.captured[1]?.bytes() ?? EMPTY, stderr: this.captured[2]?.bytes() ?? EMPTY };
  }

  getFuel(): number | null {
    const fuel = this.final ? this.final.fuel : readFuel(this.thread.channel.metrics);
    return fuel === null ? null : fuel + this.pendingFuel;
  }

  addFuel(units: number): void {
    if (!Number.isSafeInteger(units) || units < 0) throw new InvalidArguments(`addFuel expects a non-negative integer, got ${units}`);
    if (!this.fuelLimited) throw new InvalidArguments('this instance has no fuel limit; set resourceLimits.cpu.fuel to meter it');
    this.pendingFuel += units;
    // While a call runs the worker is busy; the fuel goes over before the next call instead.
    if (!this.conversation.busy && !this.threadGone && this.state !== 'destroyed') this.flushFuel();
  }

  private flushFuel(): void {
    const units = this.pendingFuel;
    this.pendingFuel = 0;
    this.conversation.sendIdle(CMD_ADD_FUEL, [units]);
  }

  metrics(): InstanceMetrics {
    const m = this.final ? { ...this.final.metrics } : readMetrics(this.thread.channel.metrics);
    m.wallTimeMs = this.wallTimeMs;
    m.traps += this.lostTraps;
    return m;
  }

  // --- lifecycle --------------------------------------------------------------------------

  private throwNotReady(): never {
    if (this.state === 'destroyed') throw new InstanceNotFound(this.id);
    throw new InstanceUnusable(this.id, this.unusableReason);
  }

  private markUnusable(reason: string): void {
    if (this.state === 'ready' || this.state === 'starting') {
      this.state = 'unusable';
      this.unusableReason = reason;
    }
  }

  async destroy(): Promise<void> {
    if (this.state === 'destroyed') return;
    this.state = 'destroyed';
    clearTimeout(this.lifetimeTimer);
    this.stdin?.close();
    if (this.threadGone) return;
    if (this.conversation.busy) {
      // Stopping the guest is the only way to stop the call; the thread cannot be trusted to be clean.
      this.snapshot();
      this.threadGone = true;
      this.stopWatchingThread();
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
    this.snapshot();
    try {
      await this.conversation.send(CMD_RELEASE, 0, undefined, 0, undefined);
    } catch {
      return; // the thread died meanwhile, and the pool has forgotten it
    }
    this.giveBackThread();
  }

  /** Keeps the last metrics: the thread's channel will serve another instance. */
  private snapshot(): void {
    const slots = this.thread.channel.metrics;
    this.final = { metrics: readMetrics(slots), fuel: readFuel(slots) };
  }

  private giveBackThread(): void {
    this.threadGone = true;
    this.stopWatchingThread();
    this.pool.release(this.thread);
  }
}

/** The main thread's end of a streamed stdin: hands the guest a chunk at a time, split to what it asks for. */
class StdinReader {
  private readonly source: AsyncIterable<Uint8Array>;
  private iterator: AsyncIterator<Uint8Array> | undefined;
  private left: Uint8Array = new Uint8Array(0);
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.source = source;
  }

  read(max: number): Uint8Array | null | Promise<Uint8Array | null> {
    if (this.left.length > 0) return this.take(max);
    if (this.ended) return null;
    return this.next(max);
  }

  private async next(max: number): Promise<Uint8Array | null> {
    this.iterator ??= this.source[Symbol.asyncIterator]();
    // Empty chunks are skipped: the guest takes a read of zero bytes for EOF.
    while (this.left.length === 0) {
      const r = await this.iterator.next();
      if (r.done) {
        this.ended = true;
        return null;
      }
      if (!(r.value instanceof Uint8Array)) throw new InvalidArguments('a streamed stdin must yield Uint8Array chunks');
      this.left = r.value;
    }
    return this.take(max);
  }

  private take(max: number): Uint8Array {
    const out = this.left.subarray(0, max);
    this.left = this.left.subarray(out.length);
    return out;
  }

  /** Lets the source release what it holds when the guest stops before reading it all. */
  close(): void {
    this.ended = true;
    this.left = new Uint8Array(0);
    const it = this.iterator;
    this.iterator = undefined;
    it?.return?.().catch(() => {});
  }
}
