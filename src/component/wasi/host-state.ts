/**
 * State every WASI preview2 interface of one component instance shares: the grant, limits, output
 * sinks, byte counters, and the sticky stop. Also the conventions for talking to jco's glue:
 *
 *  - a WIT error is reported by throwing the error value itself (a string or plain object, never an
 *    `Error`): jco turns it into the `err` case of the function's result;
 *  - anything that must end the guest (exit, a limit, a deadline) is thrown as an `Error`, which jco
 *    lets propagate out of the guest instead, and is remembered so that every later host call throws
 *    it again: a guest that catches the exception with wasm exception handling cannot carry on.
 */
import { SecurityViolation } from '../../errors.ts';
import { IoCounters } from '../../host/counters.ts';
import { HostWork } from '../../runtime/limits/host-work.ts';
import { HostError } from '../../host/host-error.ts';
import { checkNetwork, type NetworkRequest } from '../../host/network.ts';
import { Violations, type Violation } from '../../host/violations.ts';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import { ERRNO, errnoOf } from '../../wasi/errno.ts';
import type { InputSource, OutputSink } from '../../wasi/stdio.ts';

/** wasi:cli/exit: unwinds the guest; the instance reports the code instead of the host exiting. */
export class ExitSignal extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`the component exited with code ${code}`);
    this.name = 'ExitSignal';
    this.code = code;
  }
}

export type { Violation };

export interface HostOptions {
  capabilities: Capabilities;
  resourceLimits: ResourceLimits;
  stdin: InputSource;
  stdout: OutputSink;
  stderr: OutputSink;
  /** argv[0]; the remaining arguments come from the grant. */
  programName: string;
  /** Throws when the current call must stop (deadline); called before and while blocking. */
  checkInterrupt: () => void;
  /** How long the current call may still block, in ms. */
  remainingMs: () => number;
  onViolation: ((v: Violation) => void) | undefined;
}

export class HostState {
  readonly caps: Capabilities;
  readonly limits: ResourceLimits;
  readonly options: HostOptions;
  readonly violations: Violations;
  private stopped: Error | undefined;
  /** Stops whose violation the core already reported, so the instance does not report them again. */
  private readonly reportedStops = new WeakSet<Error>();
  /** The core's io counters, shared in meaning with the preview1 host. */
  readonly counters: IoCounters;
  /** Host work done for the guest, checked against its deadline chunk by chunk. */
  readonly work = new HostWork(() => this.interrupt());

  constructor(options: HostOptions) {
    this.options = options;
    this.caps = options.capabilities;
    this.limits = options.resourceLimits;
    this.violations = new Violations(options.onViolation);
    this.counters = new IoCounters(options.resourceLimits.io);
  }

  get bytesRead(): number {
    return this.counters.bytesRead;
  }

  get bytesWritten(): number {
    return this.counters.bytesWritten;
  }

  /** Host file descriptors held for the guest (preopens included), against io.maxFileDescriptors. */
  get openFiles(): number {
    return this.counters.descriptors;
  }

  /**
   * Takes a network connection; returns the one way to give it back (later calls do nothing, so a
   * resource ended twice frees one place), or undefined at io.maxNetworkConnections.
   */
  takeConnection(): (() => void) | undefined {
    if (!this.counters.reserveConnection()) return undefined;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.counters.releaseConnection();
    };
  }

  /**
   * The network check (src/host/network.ts) for this grant; a refusal is reported as a violation
   * (unless `report` is false) and returned so the caller can answer with its ABI's error.
   */
  allowsNetwork(request: NetworkRequest, report = true): boolean {
    const verdict = checkNetwork(this.caps.network, request);
    if (!verdict.allowed && report) this.violation('network', verdict.detail);
    return verdict.allowed;
  }

  /** Rethrows the error that stopped the guest, if any. */
  check(): void {
    if (this.stopped !== undefined) throw this.stopped;
  }

  /** Ends the guest with `err`, now and at every later host call. */
  stop(err: Error): never {
    this.halt(err);
    throw err;
  }

  /** Ends the guest with `err` from outside a host call (an async call that failed): its pending host work ends at its next check. */
  halt(err: Error): void {
    if (this.stopped === undefined) {
      this.stopped = err;
      this.stopListener?.(err);
    }
  }

  private readonly held = new Set<Promise<unknown>>();

  /** Keeps track of a host copy still running for the guest (a stream being drained), until it settles. */
  hold<T>(work: Promise<T>): Promise<T> {
    this.held.add(work);
    const release = () => this.held.delete(work);
    work.then(release, release);
    return work;
  }

  /** Settles when every held copy has, or after `maxMs`: a copy the guest never ends must not hold its end up. */
  async released(maxMs: number): Promise<void> {
    if (this.held.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.held]), new Promise((resolve) => { timer = setTimeout(resolve, maxMs); })]);
    clearTimeout(timer);
  }

  private stopListener: ((err: Error) => void) | undefined;
  private stopPromise: Promise<Error> | undefined;

  /**
   * Resolves with the error that stopped the guest. An async call needs it: its task runs on in
   * jco's event loop, which swallows what a host function throws, so the call itself may never settle.
   */
  whenStopped(): Promise<Error> {
    this.stopPromise ??= this.stopped !== undefined
      ? Promise.resolve(this.stopped)
      : new Promise<Error>((resolve) => {
        this.stopListener = resolve;
      });
    return this.stopPromise;
  }

  get stoppedBy(): Error | undefined {
    return this.stopped;
  }

  /** Deadlines are checked here, before and during anything that blocks. */
  interrupt(): void {
    try {
      this.options.checkInterrupt();
    } catch (err) {
      this.stop(err as Error);
    }
  }

  violation(capability: string, detail: string): void {
    this.violations.report(capability, detail);
  }

  /**
   * Runs a core decision whose refusal the guest has no way to be told about (no error case in
   * WIT): the core's SecurityViolation ends the guest, now and at every later host call.
   */
  decide<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof HostError && err.capability !== undefined) {
        const stop = new SecurityViolation(err.capability, err.detail ?? '');
        this.reportedStops.add(stop);
        this.stop(stop);
      }
      if (err instanceof Error) this.stop(err);
      throw err;
    }
  }

  /** Whether a SecurityViolation that ended the guest still has to be reported by the instance. */
  unreported(err: unknown): err is SecurityViolation {
    return err instanceof SecurityViolation && !this.reportedStops.has(err);
  }

  /** Counts bytes read; past the limit the guest is stopped. */
  countRead(n: number): void {
    this.decide(() => this.counters.countRead(n));
  }

  /** How many of `n` bytes may still be read before the read limit. */
  readAllowance(n: number): number {
    return this.counters.readAllowance(n);
  }

  /** Counts bytes about to be written; past the limit the guest is stopped first. */
  countWrite(n: number): void {
    this.decide(() => this.counters.checkWrite(n));
    this.counters.countWrite(n);
  }

  /** Reserves a host descriptor; false when the limit is reached. */
  reserveFile(): boolean {
    return this.counters.reserveDescriptor();
  }

  releaseFile(): void {
    this.counters.releaseDescriptor();
  }
}

/**
 * Wraps every prototype method of a host resource class, and the named WIT static functions, so that
 * a stopped guest cannot use them. Methods keep their names and the class its identity (jco checks
 * `instanceof`); other statics are host-side helpers and stay as they are.
 */
export function guardClass(cls: { prototype: object }, state: HostState, ...statics: string[]): void {
  const proto = cls.prototype as Record<string | symbol, unknown>;
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key === 'constructor') continue;
    const desc = Object.getOwnPropertyDescriptor(proto, key);
    if (!desc || typeof desc.value !== 'function') continue;
    const fn = desc.value as (...args: unknown[]) => unknown;
    Object.defineProperty(proto, key, {
      ...desc,
      value: {
        [key](this: unknown, ...args: unknown[]): unknown {
          state.check();
          return fn.apply(this, args);
        },
      }[key],
    });
  }
  const table = cls as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const key of statics) {
    const fn = table[key];
    table[key] = (...args: unknown[]): unknown => {
      state.check();
      return fn.apply(cls, args);
    };
  }
}

/** Wraps every function of an interface object the same way. */
export function guardFunctions<T extends Record<string, unknown>>(obj: T, state: HostState): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (typeof value === 'function' && !/^[A-Z]/.test(key)) {
      const fn = value as (...args: unknown[]) => unknown;
      out[key] = (...args: unknown[]): unknown => {
        state.check();
        return fn(...args);
      };
    } else {
      out[key] = value;
    }
  }
  return out as T;
}

/** WASI preview2 `wasi:filesystem/types.error-code` for a preview1 errno. */
const ERROR_CODES: Record<number, string> = {
  [ERRNO.ACCES]: 'access', [ERRNO.AGAIN]: 'would-block', [ERRNO.ALREADY]: 'already', [ERRNO.BADF]: 'bad-descriptor',
  [ERRNO.BUSY]: 'busy', [ERRNO.DEADLK]: 'deadlock', [ERRNO.DQUOT]: 'quota', [ERRNO.EXIST]: 'exist',
  [ERRNO.FBIG]: 'file-too-large', [ERRNO.ILSEQ]: 'illegal-byte-sequence', [ERRNO.INPROGRESS]: 'in-progress',
  [ERRNO.INTR]: 'interrupted', [ERRNO.INVAL]: 'invalid', [ERRNO.IO]: 'io', [ERRNO.ISDIR]: 'is-directory',
  [ERRNO.LOOP]: 'loop', [ERRNO.MLINK]: 'too-many-links', [ERRNO.MSGSIZE]: 'message-size',
  [ERRNO.NAMETOOLONG]: 'name-too-long', [ERRNO.NODEV]: 'no-device', [ERRNO.NOENT]: 'no-entry', [ERRNO.NOLCK]: 'no-lock',
  [ERRNO.NOMEM]: 'insufficient-memory', [ERRNO.MFILE]: 'insufficient-memory', [ERRNO.NFILE]: 'insufficient-memory',
  [ERRNO.NOSPC]: 'insufficient-space', [ERRNO.NOTDIR]: 'not-directory', [ERRNO.NOTEMPTY]: 'not-empty',
  [ERRNO.NOTRECOVERABLE]: 'not-recoverable', [ERRNO.NOTSUP]: 'unsupported', [ERRNO.NOSYS]: 'unsupported',
  [ERRNO.NOTTY]: 'no-tty', [ERRNO.NXIO]: 'no-such-device', [ERRNO.OVERFLOW]: 'overflow', [ERRNO.PERM]: 'not-permitted',
  [ERRNO.NOTCAPABLE]: 'not-permitted', [ERRNO.PIPE]: 'pipe', [ERRNO.ROFS]: 'read-only', [ERRNO.SPIPE]: 'invalid-seek',
  [ERRNO.TXTBSY]: 'text-file-busy', [ERRNO.XDEV]: 'cross-device',
};

/**
 * The error-code a failed filesystem operation reports to the guest. Failures that are not about
 * the filesystem (our own stop signals, host bugs) are rethrown so they end the guest instead.
 */
export function errorCodeOf(err: unknown): string {
  const errno = errnoOf(err);
  if (errno === undefined) throw err;
  return ERROR_CODES[errno] ?? 'io';
}
