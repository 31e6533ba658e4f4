import type { Capabilities } from '../security/capabilities.ts';
import type { ResourceLimits } from '../security/resource-limits.ts';
import type { FuncSignature, ModuleInfo } from '../module/module-info.ts';
import type { ListenerAddress, ListenerSpec } from '../wasi/socket-protocol.ts';
import type { StdinPull } from '../wasi/stdio.ts';
import type { HostContext } from './host-context.ts';
import type { ExtismOptions } from '../communication/extism-kernel.ts';
import type { DataFunction } from '../communication/guest-abi.ts';

/**
 * Where guests run. `inprocess`: on the caller's thread, fastest; deadlines and fuel still stop a guest at
 * its next checkpoint. `worker`: each instance on a worker thread that can be terminated at any point, with
 * its own heap and stack limits.
 */
export type RuntimeKind = 'inprocess' | 'worker';

/** What crosses the boundary: numbers for i32/f32/f64, bigint for i64, references as opaque values. */
export type WasmValue = number | bigint | null | object;
/** No result → undefined, one → the value, several → an array. */
export type WasmResult = WasmValue | WasmValue[] | undefined;

/**
 * A host function a guest may import: called with the calling instance's `HostContext` and the guest's
 * arguments (i64 as bigint); its return value is the import's result. A thrown error traps the guest
 * (`Trap('host-error')`), a thrown `WasmSandboxError` reaches the caller as itself.
 */
export type HostFunction = (ctx: HostContext, ...args: any[]) => unknown;
/** Host functions by import module and name: `{ env: { log: (ctx, ptr, len) => {…} } }`. */
export type HostFunctions = Record<string, Record<string, HostFunction>>;
/** Non-function imports (memories, tables, globals) by module and name. */
export type ExternImports = Record<string, Record<string, WebAssembly.Memory | WebAssembly.Table | WebAssembly.Global>>;

/**
 * stdin fed while the guest runs: its reads wait for the next chunk (bounded by the call deadline)
 * and see EOF when the iteration ends. Worker runtime only: the in-process runtime would have to
 * block the event loop that produces the chunks, so it refuses this form with InvalidArguments.
 */
export type StdinStream = AsyncIterable<Uint8Array>;

export function isStdinStream(value: unknown): value is StdinStream {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && Symbol.asyncIterator in value;
}

/** Per-instance stdio plumbing for WASI guests (what the capabilities allow is decided there, not here). */
export interface WasiIo {
  /** Data the guest reads from stdin when `capabilities.stdio.stdin` is `'capture'`: all at once, or streamed. */
  stdin?: Uint8Array | string | StdinStream;
  /** Called with each chunk the guest writes to stdout/stderr, in addition to capture or inherit. */
  onStdout?: (chunk: Uint8Array) => void;
  /** void; => Called with each chunk the guest writes to stderr, in addition to capture or inherit. */
  onStderr?: (chunk: Uint8Array) => void;
  /** argv[0] as the guest sees it. */
  programName?: string;
  /**
   * TCP listeners to pre-open for the guest (like wasmtime's `--tcplisten`): descriptors after the
   * preopens, served with sock_accept. Each address must be allowed by `capabilities.network`, or
   * the instance is not created (SecurityViolation). Port 0 picks a free port; see `onListening`.
   */
  listeners?: readonly ListenerSpec[];
  /** Called once the listeners are bound, before any guest code runs, with their real addresses. */
  onListening?: (listeners: ListenerAddress[]) => void;
}

/** WasiIo as a runtime receives it: inside a worker, a streamed stdin becomes a blocking pull from the main thread. */
export interface ResolvedWasiIo extends Omit<WasiIo, 'stdin'> {
  stdin?: WasiIo['stdin'] | StdinPull;
}

/** @internal */
export interface ResolvedInstanceConfig {
  readonly capabilities: Capabilities;
  readonly resourceLimits: ResourceLimits;
  readonly hostFunctions: HostFunctions;
  readonly imports: ExternImports;
  readonly wasi: ResolvedWasiIo;
  /** Configuration, variables and logging for plugins written against Extism's host ABI. */
  readonly extism: ExtismOptions;
  /** The embedder's init export, run at instantiation under the initialisation deadline. */
  readonly initialize?: { readonly function: string; readonly args: readonly WasmValue[] };
  /** Take a recycled instance where the runtime and module allow (see InstanceConfig.recycle). */
  readonly recycle?: boolean;
}

/** What a guest wrote to its `capture` streams, bounded together by `io.maxOutputBytes`. */
export interface CapturedOutput {
  /** Bytes written to stdout. */
  stdout: Uint8Array;
  /** Bytes written to stderr. */
  stderr: Uint8Array;
}

/** Counters of one instance since its creation, as `getMetrics` returns them. */
export interface InstanceMetrics {
  /** Linear memory now, in bytes, all memories together. */
  memoryBytes: number;
  /** The most linear memory it has held, in bytes. */
  peakMemoryBytes: number;
  /** Fuel units spent (0 when it is not metered). */
  fuelConsumed: number;
  /** Calls into the guest. */
  calls: number;
  /** Calls that ended in a trap. */
  traps: number;
  /**
   * Wall time spent inside guest calls made through the async API, in ms. While calls with deadlines
   * keep the epoch clock fresh it is read from there: whole 2 ms ticks per call, right on average.
   */
  wallTimeMs: number;
  /** CPU time of the guest's thread inside calls, in ms (see docs/instrumentation.md). */
  cpuTimeMs: number;
  /** Calls the guest made to host functions. */
  hostFunctionCalls: number;
  /** Descriptors it holds open now (see `io.maxFileDescriptors`). */
  openFileDescriptors: number;
  /** Bytes it has read from files and sockets (see `io.maxReadBytes`). */
  bytesRead: number;
  /** Bytes it has written to files and sockets (see `io.maxWriteBytes`). */
  bytesWritten: number;
  /** Connections the guest has accepted and not closed (see `io.maxNetworkConnections`). */
  networkConnections: number;
}

/** Observers the runtime reports monitoring events to; the facade turns them into sandbox events. */
export interface RuntimeObserver {
  onTrap?(instanceId: string, error: Error): void;
  onLimit?(instanceId: string, error: Error): void;
  onViolation?(instanceId: string, violation: { capability: string; detail: string }): void;
}

/**
 * A compiled module, ready to instantiate any number of times.
 * @internal
 */
export interface WasmModule {
  readonly info: ModuleInfo;
  instantiate(instanceId: string, config: ResolvedInstanceConfig): Promise<WasmInstance>;
  dispose(): void;
}

/**
 * A synchronous call path, offered only where the runtime can complete a call without yielding.
 * @internal
 */
export type SyncCall = (...args: WasmValue[]) => WasmResult;

/** @internal */
export interface WasmInstance {
  readonly id: string;
  /** Exported functions and their signatures. */
  readonly functions: ReadonlyMap<string, FuncSignature>;
  call(name: string, args: readonly WasmValue[]): Promise<WasmResult>;
  /** A direct handle that validates arguments; undefined when the runtime cannot call synchronously. */
  syncHandle(name: string): SyncCall | undefined;
  /** True when exports may suspend in async host functions, so that only the async API can call them. */
  readonly suspending: boolean;
  /** Structured-call functions (docs/guest-abi.md) by the name callers use. */
  readonly dataFunctions: ReadonlyMap<string, DataFunction>;
  /** Calls a data function with raw bytes and resolves with the bytes it returned. */
  callData(name: string, input: Uint8Array): Promise<Uint8Array>;
  /** A copy of `len` bytes of the guest's exported memory at `ptr` (bounds-checked). */
  readMemory(ptr: number, len: number): Promise<Uint8Array>;
  writeMemory(ptr: number, bytes: Uint8Array): Promise<void>;
  /** Runs a WASI command's `_start` and resolves with its exit code (proc_exit never ends the host). */
  runCommand(): Promise<number>;
  /** Output captured so far (streams whose stdio mode is `capture`). */
  output(): CapturedOutput;
  /** Fuel left, or null without a fuel limit. */
  getFuel(): number | null;
  addFuel(units: number): void;
  metrics(): InstanceMetrics;
  destroy(): Promise<void>;
}

/** @internal */
export interface WasmRuntime {
  readonly kind: RuntimeKind;
  compile(bytes: Uint8Array, info: ModuleInfo): Promise<WasmModule>;
  close(): Promise<void>;
}
