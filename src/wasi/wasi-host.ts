import { FunctionNotFound, InvalidModule, Trap, type ResourceLimitExceeded } from '../errors.ts';
import { createHostClock } from '../host/clock.ts';
import { IoCounters } from '../host/counters.ts';
import { FilesystemCore, openPreopens } from '../host/filesystem.ts';
import { exitCode, grantedArguments, grantedEnvironment } from '../host/grants.ts';
import { createRandom } from '../host/random.ts';
import { Violations } from '../host/violations.ts';
import { HostWork } from '../runtime/limits/host-work.ts';
import type { Capabilities } from '../security/capabilities.ts';
import type { ResourceLimits } from '../security/resource-limits.ts';
import { preview1Clock } from './clocks.ts';
import { DIR_INHERITING_RO, DIR_INHERITING_RW, DIR_RIGHTS_RO, DIR_RIGHTS_RW, FILETYPE, STDIN_RIGHTS, STDOUT_RIGHTS } from './constants.ts';
import type { WasiContext } from './context.ts';
import { ERRNO, errnoOf } from './errno.ts';
import { createFdFunctions } from './fd-ops.ts';
import { FdTable, hostlessEntry, type FdEntry, type FdKind } from './fd-table.ts';
import { TimestampOverrides } from './filestat.ts';
import { GuestMemory, utf8 } from './guest-memory.ts';
import { createPathFunctions } from './path-ops.ts';
import { createPoll, PREVIEW1_SUBSCRIPTION, UNSTABLE_SUBSCRIPTION } from './poll.ts';
import { checkListeners, createSocketFunctions, Sockets, type ListenerAddress, type ListenerSpec } from './sockets.ts';
import { InputSource, OutputBudget, OutputSink, Stdio, type StdinPull } from './stdio.ts';

/** What a WasiHost serves its guest: grants, limits, stdio and the hooks of the runtime that runs it. */
export interface WasiHostOptions {
  /** What the guest may touch: preopens, env, args, stdio, clock, random, network, exit. */
  capabilities: Capabilities;
  /** Its io limits (descriptors, bytes, output, connections) are enforced by the host. */
  resourceLimits: ResourceLimits;
  /** argv[0], default 'main.wasm'; the remaining arguments come from capabilities.args. */
  programName?: string;
  /** The data read when capabilities.stdio.stdin === 'capture', or where to pull it from as it comes. */
  stdin?: Uint8Array | string | StdinPull;
  /** Streaming taps, called in addition to capture/inherit (and even for 'null'). */
  onStdout?: (chunk: Uint8Array) => void;
  /** The same tap for stderr. */
  onStderr?: (chunk: Uint8Array) => void;
  /** Called by blocking operations (poll_oneoff sleeps, stdin reads): throws (e.g. Timeout) when the guest must stop. */
  checkInterrupt?: () => void;
  /** Milliseconds the guest may still block for, or Infinity; poll_oneoff never waits longer than this. */
  remainingMs?: () => number;
  /**
   * Charges host work done for the guest (random bytes, file and output copies) to its fuel before it
   * is done, enforcing fuel and deadlines as a bulk instruction of that size would; default: only
   * `checkInterrupt`.
   */
  chargeWork?: (bytes: number) => void;
  /** Reports a denied operation (capability and detail) for monitoring; the guest still just gets an errno. */
  onViolation?: (v: { capability: string; detail: string }) => void;
  /**
   * Reports a limit the guest ran into without being stopped for it (sock_accept at
   * `io.maxNetworkConnections` gets EMFILE); limits that stop the guest are thrown instead.
   */
  onLimit?: (error: ResourceLimitExceeded) => void;
  /**
   * TCP listeners to open for the guest, like wasmtime's `--tcplisten`: each becomes a descriptor
   * after the preopens, which the guest serves with sock_accept. Each address must be allowed by
   * `capabilities.network`, or the host is not created (SecurityViolation). Port 0 picks a free port.
   */
  listeners?: readonly ListenerSpec[];
  /** Called once the listeners are bound, before any guest code runs, with the real addresses. */
  onListening?: (listeners: ListenerAddress[]) => void;
}

/** What a WasiHost has counted so far. */
export interface WasiMetrics {
  /** Host descriptors the guest holds now, stdio and preopens included. */
  openFileDescriptors: number;
  /** Bytes read from files (not stdin). */
  bytesRead: number;
  /** Bytes written to files (not stdout/stderr). */
  bytesWritten: number;
  /** Bytes delivered on stdout and stderr together, against io.maxOutputBytes. */
  outputBytes: number;
  /** Network connections the guest holds now. */
  networkConnections: number;
}

/** A WASI function as the guest imports it: numeric arguments, an errno back. */
export type WasiFunction = (...args: any[]) => number;

/** Thrown by proc_exit to unwind the guest; never escapes `start()`. Not an Error: no stack to capture. */
class ProcExit {
  readonly code: number;
  constructor(code: number) {
    this.code = code;
  }
}

const noop = (): void => {};
const infinite = (): number => Infinity;

/**
 * A wasi_snapshot_preview1 host confined to a Capabilities grant and ResourceLimits. Each host
 * serves one instance. Import functions are plain closures created once per host (no native
 * binding), and every one of them turns expected failures into errnos while anything that must end
 * the guest (limits, interrupts, proc_exit, host faults) is rethrown — and keeps being rethrown by
 * every later call, so a guest that catches the exception (wasm exception handling can) cannot use
 * WASI afterwards.
 */
export class WasiHost {
  /** The import objects of both preview1 namespaces, to pass to `WebAssembly.instantiate`. */
  readonly imports: {
    /** The current namespace. */
    wasi_snapshot_preview1: Record<string, WasiFunction>;
    /** The older namespace some toolchains still emit, served by the same functions. */
    wasi_unstable: Record<string, WasiFunction>;
  };
  /** The unguarded functions of each namespace, for `importsFor`. */
  private raw!: { wasi_snapshot_preview1: Record<string, WasiFunction>; wasi_unstable: Record<string, WasiFunction> };
  private readonly ctx: WasiContext;
  private readonly budget: OutputBudget;
  private readonly counters: IoCounters;
  private fatal: unknown = undefined;
  private memoryBound = false;

  constructor(options: WasiHostOptions) {
    const caps = options.capabilities;
    const io = options.resourceLimits.io;
    const checkInterrupt = options.checkInterrupt ?? noop;
    const onViolation = options.onViolation;
    this.budget = new OutputBudget(io.maxOutputBytes);
    const stdio = new Stdio(
      new InputSource(caps.stdio.stdin, options.stdin),
      new OutputSink(caps.stdio.stdout, 1, options.onStdout, this.budget, checkInterrupt),
      new OutputSink(caps.stdio.stderr, 2, options.onStderr, this.budget, checkInterrupt),
    );
    this.counters = new IoCounters(io);
    const fds = new FdTable(this.counters);
    const violations = new Violations(onViolation);
    this.ctx = {
      mem: new GuestMemory(),
      fds,
      io,
      counters: this.counters,
      times: new TimestampOverrides(),
      stdio,
      clock: preview1Clock(createHostClock(caps.clock, violations)),
      fs: new FilesystemCore(violations),
      violations,
      violation: (capability, detail) => violations.report(capability, detail),
      checkInterrupt,
      work: new HostWork(options.chargeWork ?? checkInterrupt),
      remainingMs: options.remainingMs ?? infinite,
      sockets: undefined,
    };
    fds.place(0, stdioEntry('stdin', STDIN_RIGHTS));
    fds.place(1, stdioEntry('stdout', STDOUT_RIGHTS));
    fds.place(2, stdioEntry('stderr', STDOUT_RIGHTS));
    // Checked before anything is opened: a refused grant must leave nothing behind.
    const listeners = options.listeners === undefined ? [] : checkListeners(options.listeners, caps);
    this.openPreopens(caps);
    if (listeners.length > 0) this.openListeners(listeners, 3 + caps.filesystem.length, options);
    this.imports = this.buildImports(caps, options.programName ?? 'main.wasm');
  }

  private openListeners(specs: ListenerSpec[], firstFd: number, options: WasiHostOptions): void {
    try {
      this.ctx.sockets = Sockets.open(this.ctx, specs, firstFd, options.capabilities.network, options.onLimit ?? noop);
      options.onListening?.(this.listenerAddresses());
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private openPreopens(caps: Capabilities): void {
    openPreopens(caps).forEach((p, index) => {
      const readOnly = !p.perms.mutate;
      this.ctx.fds.place(3 + index, {
        kind: 'directory',
        filetype: FILETYPE.DIRECTORY,
        hostFd: p.hostFd,
        rightsBase: readOnly ? DIR_RIGHTS_RO : DIR_RIGHTS_RW,
        rightsInheriting: readOnly ? DIR_INHERITING_RO : DIR_INHERITING_RW,
        fdflags: 0,
        position: 0,
        tree: p.tree,
        perms: p.perms,
        preopenName: utf8(p.tree.guestPath),
        depth: 0,
        hostPath: p.hostPath,
        dir: undefined,
      });
    });
  }

  private buildImports(caps: Capabilities, programName: string): WasiHost['imports'] {
    const ctx = this.ctx;
    const { mem, clock } = ctx;
    const args = encodeStrings(grantedArguments(caps, programName));
    const environ = encodeStrings(grantedEnvironment(caps).map(([k, v]) => `${k}=${v}`));
    const random = createRandom(caps.random, ctx.violations);
    const fd = createFdFunctions(ctx);
    const path = createPathFunctions(ctx);
    const sock = createSocketFunctions(ctx);

    const common: Record<string, WasiFunction> = {
      args_get: (argv: number, buf: number) => writeStrings(mem, args, argv, buf),
      args_sizes_get: (countPtr: number, sizePtr: number) => writeSizes(mem, args, countPtr, sizePtr),
      environ_get: (envp: number, buf: number) => writeStrings(mem, environ, envp, buf),
      environ_sizes_get: (countPtr: number, sizePtr: number) => writeSizes(mem, environ, countPtr, sizePtr),
      clock_res_get: (id: number, ptr: number) => {
        mem.check(ptr, 8);
        mem.setU64(ptr, clock.resolution(id));
        return ERRNO.SUCCESS;
      },
      clock_time_get: (id: number, _precision: bigint, ptr: number) => {
        mem.check(ptr, 8);
        mem.setU64(ptr, clock.now(id));
        return ERRNO.SUCCESS;
      },
      fd_advise: fd.fd_advise,
      fd_allocate: fd.fd_allocate,
      fd_close: fd.fd_close,
      fd_datasync: fd.fd_datasync,
      fd_fdstat_get: fd.fd_fdstat_get,
      fd_fdstat_set_flags: fd.fd_fdstat_set_flags,
      fd_fdstat_set_rights: fd.fd_fdstat_set_rights,
      fd_filestat_set_size: fd.fd_filestat_set_size,
      fd_filestat_set_times: fd.fd_filestat_set_times,
      fd_pread: fd.fd_pread,
      fd_prestat_get: fd.fd_prestat_get,
      fd_prestat_dir_name: fd.fd_prestat_dir_name,
      fd_pwrite: fd.fd_pwrite,
      fd_read: fd.fd_read,
      fd_readdir: fd.fd_readdir,
      fd_renumber: fd.fd_renumber,
      fd_sync: fd.fd_sync,
      fd_tell: fd.fd_tell,
      fd_write: fd.fd_write,
      path_create_directory: path.path_create_directory,
      path_filestat_set_times: path.path_filestat_set_times,
      path_link: path.path_link,
      path_open: path.path_open,
      path_readlink: path.path_readlink,
      path_remove_directory: path.path_remove_directory,
      path_rename: path.path_rename,
      path_symlink: path.path_symlink,
      path_unlink_file: path.path_unlink_file,
      // proc_exit only ends this guest, and only with the exit grant; it never affects the host
      // process (see docs/wasi.md).
      proc_exit: (code: number) => {
        throw new ProcExit(exitCode(caps, code >>> 0));
      },
      // Signals are not part of the sandbox model; raise() in wasi-libc is rarely used.
      proc_raise: () => ERRNO.NOSYS,
      sched_yield: () => {
        ctx.checkInterrupt();
        return ERRNO.SUCCESS;
      },
      random_get: (buf: number, len: number) => {
        const dst = mem.bytes(buf, len);
        if (dst.length === 0) random.fill(dst);
        // Chunks of a multiple of 4 bytes: a seeded stream comes out the same as in one piece.
        ctx.work.inChunks(dst.length, (off, n) => random.fill(dst.subarray(off, off + n)));
        return ERRNO.SUCCESS;
      },
      sock_accept: sock.sock_accept,
      sock_recv: sock.sock_recv,
      sock_send: sock.sock_send,
      sock_shutdown: sock.sock_shutdown,
    };
    const preview1: Record<string, WasiFunction> = {
      ...common,
      fd_filestat_get: fd.fd_filestat_get,
      fd_seek: fd.fd_seek,
      path_filestat_get: path.path_filestat_get,
      poll_oneoff: createPoll(ctx, PREVIEW1_SUBSCRIPTION),
    };
    const unstable: Record<string, WasiFunction> = {
      ...common,
      fd_filestat_get: fd.fd_filestat_get_unstable,
      fd_seek: fd.fd_seek_unstable,
      path_filestat_get: path.path_filestat_get_unstable,
      poll_oneoff: createPoll(ctx, UNSTABLE_SUBSCRIPTION),
    };
    // Wrapping ~45 functions costs more than instantiating a small module, and almost no guest imports
    // the legacy `wasi_unstable` namespace: build each namespace on first use.
    let guardedPreview1: Record<string, WasiFunction> | undefined;
    let guardedUnstable: Record<string, WasiFunction> | undefined;
    const host = this;
    this.raw = { wasi_snapshot_preview1: preview1, wasi_unstable: unstable };
    return {
      get wasi_snapshot_preview1() {
        return (guardedPreview1 ??= host.guardAll(preview1));
      },
      get wasi_unstable() {
        return (guardedUnstable ??= host.guardAll(unstable));
      },
    };
  }

  private guardAll(fns: Record<string, WasiFunction>, names: readonly string[] = Object.keys(fns)): Record<string, WasiFunction> {
    const out: Record<string, WasiFunction> = {};
    const cache = new Map<WasiFunction, WasiFunction>();
    for (const name of names) {
      const fn = fns[name];
      if (!Object.hasOwn(fns, name) || fn === undefined) continue;
      let g = cache.get(fn);
      if (g === undefined) cache.set(fn, (g = this.guard(fn)));
      out[name] = g;
    }
    return out;
  }

  /**
   * The guarded functions of one namespace, only those named (what the guest imports): a host made
   * per request need not wrap the forty-odd functions a guest never calls.
   */
  importsFor(namespace: 'wasi_snapshot_preview1' | 'wasi_unstable', names: readonly string[]): Record<string, WasiFunction> {
    return this.guardAll(this.raw[namespace], names);
  }

  private guard(fn: WasiFunction): WasiFunction {
    const mem = this.ctx.mem;
    const enter = (): void => {
      if (this.fatal !== undefined) throw this.fatal;
      mem.sync();
    };
    const onError = (err: unknown): number => {
      const errno = errnoOf(err);
      if (errno !== undefined) return errno;
      this.fatal = err;
      throw err;
    };
    // Exact-arity wrappers: wasm calls imports with a fixed argument count, and matching it keeps
    // the per-call cost of the hot functions (fd_read, fd_write) minimal.
    type A = any;
    switch (fn.length) {
      case 0: return () => { enter(); try { return fn(); } catch (e) { return onError(e); } };
      case 1: return (a: A) => { enter(); try { return fn(a); } catch (e) { return onError(e); } };
      case 2: return (a: A, b: A) => { enter(); try { return fn(a, b); } catch (e) { return onError(e); } };
      case 3: return (a: A, b: A, c: A) => { enter(); try { return fn(a, b, c); } catch (e) { return onError(e); } };
      case 4: return (a: A, b: A, c: A, d: A) => { enter(); try { return fn(a, b, c, d); } catch (e) { return onError(e); } };
      case 5: return (a: A, b: A, c: A, d: A, e: A) => { enter(); try { return fn(a, b, c, d, e); } catch (x) { return onError(x); } };
      case 6: return (a: A, b: A, c: A, d: A, e: A, f: A) => { enter(); try { return fn(a, b, c, d, e, f); } catch (x) { return onError(x); } };
      case 7: return (a: A, b: A, c: A, d: A, e: A, f: A, g: A) => { enter(); try { return fn(a, b, c, d, e, f, g); } catch (x) { return onError(x); } };
      default: return (...args: A[]) => { enter(); try { return fn(...args); } catch (x) { return onError(x); } };
    }
  }

  private bindMemory(instance: WebAssembly.Instance): void {
    if (this.memoryBound) return;
    const memory = instance.exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) throw new InvalidModule("a WASI module must export its linear memory as 'memory'");
    this.ctx.mem.bind(memory);
    this.memoryBound = true;
  }

  /** Binds the instance's exported memory and runs `_initialize` for reactors. */
  initialize(instance: WebAssembly.Instance): void {
    this.bindMemory(instance);
    const init = instance.exports._initialize;
    if (typeof init !== 'function') return;
    try {
      (init as () => void)();
    } catch (err) {
      if (err instanceof ProcExit) throw new Trap('host-error', `the guest called proc_exit(${err.code}) during _initialize`);
      throw err;
    }
  }

  /** Runs `_start`; returns 0 on normal return, or the proc_exit code. Other errors propagate. */
  start(instance: WebAssembly.Instance): number {
    this.bindMemory(instance);
    const start = instance.exports._start;
    if (typeof start !== 'function') {
      const fns = Object.entries(instance.exports).filter(([, v]) => typeof v === 'function').map(([k]) => k);
      throw new FunctionNotFound('_start', fns);
    }
    try {
      (start as () => void)();
    } catch (err) {
      if (err instanceof ProcExit) return err.code;
      // The guest caught our exit unwinding and then failed: the exit is what it asked for.
      if (this.fatal instanceof ProcExit) return this.fatal.code;
      throw err;
    }
    if (this.fatal instanceof ProcExit) return this.fatal.code;
    if (this.fatal !== undefined) throw this.fatal;
    return 0;
  }

  /** The code passed to proc_exit, if the guest called it (also for reactors, whose exports throw it). */
  get exitCode(): number | undefined {
    return this.fatal instanceof ProcExit ? this.fatal.code : undefined;
  }

  /** The proc_exit code carried by an exception thrown out of a guest export of this host, else undefined. */
  static exitCodeOf(err: unknown): number | undefined {
    return err instanceof ProcExit ? err.code : undefined;
  }

  /** What the guest wrote to a captured stdout so far (empty unless `capabilities.stdio.stdout` is 'capture'). */
  stdoutBytes(): Uint8Array {
    return this.ctx.stdio.stdout.bytes();
  }

  /** The same for stderr. */
  stderrBytes(): Uint8Array {
    return this.ctx.stdio.stderr.bytes();
  }

  /** The counts so far. */
  metrics(): WasiMetrics {
    return {
      openFileDescriptors: this.counters.descriptors,
      bytesRead: this.counters.bytesRead,
      bytesWritten: this.counters.bytesWritten,
      outputBytes: this.budget.used,
      networkConnections: this.counters.networkConnections,
    };
  }

  /** The pre-opened listeners as bound (the real port when 0 was asked for) and their guest descriptors. */
  listenerAddresses(): ListenerAddress[] {
    return (this.ctx.sockets?.listeners ?? []).map((l) => ({ ...l }));
  }

  /**
   * Closes every host descriptor this host opened. The guest sees EBADF for everything afterwards.
   * Listeners stop at once; connections get up to 2 s to flush what the guest sent (this call waits
   * for that), and then the socket helper thread is ended.
   */
  close(): void {
    this.ctx.sockets?.close();
    this.ctx.fds.closeAll();
    this.ctx.stdio.stdin.close();
  }
}

function stdioEntry(kind: FdKind, rights: number): FdEntry {
  return hostlessEntry(kind, FILETYPE.CHARACTER_DEVICE, rights, 0, 0);
}

interface EncodedStrings {
  /** Every string as UTF-8 with its NUL, one after another. */
  data: Uint8Array;
  /** Where each string starts in `data`. */
  offsets: number[];
}

/** NUL-terminated UTF-8, prepared once (in one encoding pass: a host is made per request) so args_get/environ_get only copy. */
function encodeStrings(list: string[]): EncodedStrings {
  const offsets: number[] = [];
  let at = 0;
  for (const s of list) {
    offsets.push(at);
    at += Buffer.byteLength(s, 'utf8') + 1;
  }
  const data = list.length === 0 ? new Uint8Array(0) : Buffer.from(list.join('\0') + '\0', 'utf8');
  return { data, offsets };
}

function writeSizes(mem: GuestMemory, s: EncodedStrings, countPtr: number, sizePtr: number): number {
  mem.check(countPtr, 4);
  mem.check(sizePtr, 4);
  mem.setU32(countPtr, s.offsets.length);
  mem.setU32(sizePtr, s.data.length);
  return ERRNO.SUCCESS;
}

function writeStrings(mem: GuestMemory, s: EncodedStrings, ptrs: number, buf: number): number {
  mem.check(ptrs, s.offsets.length * 4);
  mem.bytes(buf, s.data.length).set(s.data);
  for (let i = 0; i < s.offsets.length; i++) mem.setU32(ptrs + i * 4, (buf >>> 0) + s.offsets[i]);
  return ERRNO.SUCCESS;
}
