import { EventEmitter } from 'node:events';
import {
  argumentsToBytes, bytesToJsonText, bytesToValue, checkMsgpackInput, checkMsgpackOutput, jsonTextToBytes,
} from '../communication/codecs.ts';
import { callDeadline } from '../communication/structure-check.ts';
import type { ExtismOptions } from '../communication/extism-kernel.ts';
import {
  AsyncRequired, FunctionNotFound, InvalidArguments, InvalidModule, InstanceNotFound, ModuleNotFound, ResourceLimitExceeded, SandboxClosed,
  SecurityViolation, Trap, WasmSandboxError,
} from '../errors.ts';
import { inspect, toBytes } from '../module/inspect.ts';
import { RESERVED_IMPORT_MODULE } from '../module/instrument.ts';
import type { ModuleInfo } from '../module/module-info.ts';
import { Capabilities, type CapabilitiesInit } from '../security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../security/resource-limits.ts';
import { InProcessRuntime } from '../runtime/inprocess/inprocess-runtime.ts';
import { checkCacheMaxBytes } from '../cache-dir.ts';
import { acceptedFeatures, checkFeatures, type FeatureSettings } from '../runtime/feature-policy.ts';
import type { WasmFeature } from '../module/features.ts';
import { InstrumentedStore } from '../runtime/limits/instrumented-store.ts';
import type {
  CapturedOutput, ExternImports, HostFunctions, InstanceMetrics, WasiIo, ResolvedInstanceConfig, RuntimeKind, RuntimeObserver,
  WasmInstance, WasmModule, WasmResult, WasmRuntime, WasmValue,
} from '../runtime/types.ts';
import { checkOptionKeys, type OptionKeys } from '../option-keys.ts';

/** Options of `WasmSandbox.create`; an unknown key is an `InvalidArguments`. */
export interface SandboxOptions {
  /** `inprocess` (default): fastest, same thread. `worker`: each instance on a worker thread, hard-killable. */
  runtime?: RuntimeKind;
  /** Worker runtime: idle threads kept warm per set of limits (default 1). */
  workerPoolSize?: number;
  /**
   * Directory where instrumented modules are kept between processes (in its `instrumented` folder),
   * sparing a fresh process the rewrite; `defaultCacheDir()` is the conventional place and what
   * `wasm-sandbox run` uses. Off by default. It must be writable only by the user running the host.
   */
  cacheDir?: string;
  /**
   * Bytes the `instrumented` folder of `cacheDir` holds at most; the least recently used entries go
   * first. Default `$WASM_SANDBOX_CACHE_MAX_BYTES`, else 512 MiB.
   */
  cacheMaxBytes?: number;
  /**
   * Wasm proposals to refuse, e.g. `{ gc: false, simd: false }`: narrows what the runtime accepts (see
   * `FEATURE_POLICY` and docs/instrumentation.md). A module using a refused feature fails to load with
   * an `InvalidModule` naming it. Enabling a feature the runtime cannot bound, or an unknown key, is
   * `InvalidArguments`.
   */
  features?: FeatureSettings;
}

/**
 * How `createInstance` sets up one instance: what it may touch, what it may consume, and what the host links
 * into it.
 */
export interface InstanceConfig {
  /** What the guest may touch; default `Capabilities.minimal()` (nothing). */
  capabilities?: Capabilities | CapabilitiesInit;
  /** How much it may consume; default `ResourceLimits.default()`. */
  resourceLimits?: ResourceLimits | ResourceLimitsInit;
  /** Host functions by import module and name; linked only where `capabilities.hostFunctions` allows. */
  hostFunctions?: HostFunctions;
  /** Memories, tables and globals the module imports. */
  imports?: ExternImports;
  /** Stdin data, output taps and argv[0] for WASI guests. */
  wasi?: WasiIo;
  /** Configuration, log level and log sink for plugins written against Extism's host ABI. */
  extism?: ExtismOptions;
  /**
   * An export to call once the instance exists (after a reactor's `_initialize`), such as an
   * interpreter's own init function: it runs as part of `createInstance`, under
   * `time.initTimeoutMs` instead of the call deadline, with numeric arguments.
   */
  initialize?: {
    /** Name of the export to call. */
    function: string;
    /** Its arguments; none by default. */
    args?: readonly WasmValue[];
  };
  /**
   * In-process runtime: take a recycled instance of the module, reset to its state right after
   * instantiation (memory, globals, tables; a fresh WASI host, meter and grow policy), instead of
   * instantiating anew; `destroyInstance` resets it and keeps it for the next. Nothing one use wrote
   * is visible to the next. Applies to modules that import only WASI functions and have no
   * `_initialize` (docs/recycled-instances.md); others, and the worker runtime, instantiate as usual.
   */
  recycle?: boolean;
}

/** What `callFunction` takes and returns: wasm values for numeric exports, JSON values for data functions. */
export type CallValue = WasmValue | string | boolean;

/** A loaded module, as `listModules` lists it. */
export interface ModuleSummary {
  /** The id `loadModule` returned. */
  id: string;
  /** Size of the binary in bytes. */
  size: number;
  /** Which WASI the module imports, if any. */
  wasi: ModuleInfo['wasi'];
  /** Export names. */
  exports: string[];
  /** Imports as `module.name`. */
  imports: string[];
}

/** A live instance, as `listInstances` lists it. */
export interface InstanceSummary {
  /** The id `createInstance` returned. */
  id: string;
  /** The module it was created from. */
  moduleId: string;
  /** When it was created, in ms since the epoch. */
  createdAt: number;
}

/** A cached, typed handle to one export. Calling it is async; `sync` calls without a promise where the runtime allows. */
export interface TypedFunction<A extends WasmValue[] = WasmValue[], R extends WasmResult = WasmResult> {
  (...args: A): Promise<R>;
  /** Present on the in-process runtime: the same call, returning the result directly. */
  readonly sync: ((...args: A) => R) | undefined;
  /** The export this handle calls. */
  readonly functionName: string;
}

/**
 * Monitoring events of a `WasmSandbox` and their payloads; the error is also what the failed call rejected
 * with.
 */
export interface SandboxEvents {
  /** A guest trapped. */
  trap: [{
    /** The instance that trapped. */
    instanceId: string;
    /** The trap, as the call rejected with it. */
    error: Trap;
  }];
  /** A guest hit a resource limit or a deadline. */
  limit: [{
    /** The instance that was stopped. */
    instanceId: string;
    /** The `ResourceLimitExceeded` or `Timeout` the call rejected with. */
    error: ResourceLimitExceeded | WasmSandboxError;
  }];
  /** A guest attempted something its capabilities deny. */
  violation: [{
    /** The instance that attempted it. */
    instanceId: string;
    /** The capability it would have needed, e.g. `filesystem` or `network`. */
    capability: string;
    /** What was attempted, e.g. the path or address. */
    detail: string;
  }];
}

const SANDBOX_OPTIONS: OptionKeys<SandboxOptions> = { runtime: true, workerPoolSize: true, cacheDir: true, cacheMaxBytes: true, features: true };
const INSTANCE_CONFIG: OptionKeys<InstanceConfig> = { capabilities: true, resourceLimits: true, hostFunctions: true, imports: true, wasi: true, extism: true, initialize: true, recycle: true };

interface ModuleEntry {
  module: WasmModule;
  summary: ModuleSummary;
}

interface InstanceEntry {
  instance: WasmInstance;
  summary: InstanceSummary;
  handles: Map<string, TypedFunction<any, any>>;
  callTimeoutMs: number | null;
}

/**
 * The facade over a runtime: loads modules, creates instances under a policy, and calls them. Every method
 * that can run guest code is async so that the worker runtime fits behind the same interface.
 * Events: `trap`, `limit`, `violation`, for monitoring.
 */
export class WasmSandbox extends EventEmitter<SandboxEvents> {
  /** The runtime this sandbox runs guests on. */
  readonly runtimeKind: RuntimeKind;
  private readonly runtime: WasmRuntime;
  private readonly features: ReadonlySet<WasmFeature>;
  private readonly modules = new Map<string, ModuleEntry>();
  private readonly instances = new Map<string, InstanceEntry>();
  private nextModule = 1;
  private nextInstance = 1;
  private closed = false;

  private constructor(runtime: WasmRuntime, features: ReadonlySet<WasmFeature>) {
    super();
    this.runtime = runtime;
    this.runtimeKind = runtime.kind;
    this.features = features;
  }

  /**
   * Starts a sandbox (for the worker runtime, its thread pool). Throws `InvalidArguments` for a bad or
   * unknown option (feature settings included). Close it with `close()` to free its threads and caches.
   */
  static async create(options: SandboxOptions = {}): Promise<WasmSandbox> {
    checkOptionKeys<SandboxOptions>('WasmSandbox.create options', options, SANDBOX_OPTIONS);
    const kind = options.runtime ?? 'inprocess';
    if (options.cacheDir !== undefined && (typeof options.cacheDir !== 'string' || options.cacheDir === '')) {
      throw new InvalidArguments('WasmSandbox.create cacheDir must be a directory path');
    }
    checkCacheMaxBytes(options.cacheMaxBytes, 'WasmSandbox.create');
    let sandbox: WasmSandbox | undefined;
    const observer: RuntimeObserver = {
      onTrap: (instanceId, error) => sandbox?.emit('trap', { instanceId, error: error as Trap }),
      onLimit: (instanceId, error) => sandbox?.emit('limit', { instanceId, error: error as WasmSandboxError }),
      onViolation: (instanceId, v) => sandbox?.emit('violation', { instanceId, ...v }),
    };
    const runtime = await createRuntime(kind, observer, options);
    let features: ReadonlySet<WasmFeature>;
    try {
      features = acceptedFeatures(runtime.kind, options.features);
    } catch (err) {
      await runtime.close();
      throw err;
    }
    sandbox = new WasmSandbox(runtime, features);
    return sandbox;
  }

  private ensureOpen(): void {
    if (this.closed) throw new SandboxClosed();
  }

  /** Validates and compiles a core module; returns its id. Components go to `ComponentRuntime`. */
  async loadModule(bytes: Uint8Array | ArrayBuffer): Promise<string> {
    this.ensureOpen();
    const data = moduleBytes(bytes);
    const info = inspect(data);
    if (info.kind === 'component') {
      throw new InvalidModule('this is a WebAssembly component, not a core module; load it with ComponentRuntime');
    }
    const reserved = info.imports.find((i) => i.module === RESERVED_IMPORT_MODULE);
    if (reserved) {
      throw new SecurityViolation('hostFunctions', `the module imports '${reserved.module}.${reserved.name}' from a module name reserved for the sandbox`);
    }
    checkFeatures(data, this.runtimeKind, this.features);
    const module = await this.runtime.compile(data, info);
    const id = `module-${this.nextModule++}`;
    this.modules.set(id, {
      module,
      summary: {
        id,
        size: info.size,
        wasi: info.wasi,
        exports: info.exports.map((e) => e.name),
        imports: info.imports.map((i) => `${i.module}.${i.name}`),
      },
    });
    return id;
  }

  /**
   * Reads a file and loads it as `loadModule` does; an unreadable file is a `ModuleNotFound` naming the path.
   */
  async loadModuleFromFile(path: string): Promise<string> {
    this.ensureOpen();
    if (typeof path !== 'string' || path === '') throw new InvalidArguments('loadModuleFromFile expects a file path');
    let bytes: Uint8Array;
    try {
      bytes = await process.getBuiltinModule('node:fs/promises').readFile(path);
    } catch (err) {
      throw new ModuleNotFound(path, `cannot read module file '${path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return this.loadModule(bytes);
  }

  /** What the module imports and exports, as `inspect()` reports it; `ModuleNotFound` for an unknown id. */
  inspectModule(moduleId: string): ModuleInfo {
    return structuredClone(this.moduleEntry(moduleId).module.info);
  }

  /**
   * Instantiates a loaded module under `config` and resolves with the new instance's id. Rejects with
   * `MissingImports` (every import nothing provides), `SecurityViolation` (a host function or listener not
   * granted), `InvalidArguments`/`InvalidPolicy` (bad config), or the `Trap`/`Timeout` of its start function
   * or initialisation.
   */
  async createInstance(moduleId: string, config: InstanceConfig = {}): Promise<string> {
    this.ensureOpen();
    const entry = this.moduleEntry(moduleId);
    const resolved = resolveConfig(config);
    const id = `instance-${this.nextInstance++}`;
    let instance: WasmInstance;
    try {
      instance = await entry.module.instantiate(id, resolved);
    } catch (err) {
      this.report(id, err);
      throw err;
    }
    this.instances.set(id, { instance, summary: { id, moduleId, createdAt: Date.now() }, handles: new Map(), callTimeoutMs: resolved.resourceLimits.time.callTimeoutMs });
    return id;
  }

  /**
   * Calls an export. On a data function (docs/guest-abi.md) the arguments travel as a JSON array and
   * the result comes back decoded from JSON, so `callFunction(id, 'add', [5, 3])` reads the same
   * whether `add` takes two i32s or JSON.
   */
  async callFunction(instanceId: string, name: string, args: readonly CallValue[] = []): Promise<WasmResult | CallValue> {
    const instance = this.instanceEntry(instanceId).instance;
    if (typeof name !== 'string') throw new InvalidArguments('function name must be a string');
    if (!Array.isArray(args)) throw new InvalidArguments(`arguments for '${name}' must be an array`);
    if (isDataCall(instance, name)) {
      const check = this.callDeadline(instanceId);
      return bytesToValue(name, await instance.callData(name, argumentsToBytes(name, args)), check) as CallValue;
    }
    // Numeric exports check every argument against the signature, strings and booleans included.
    return await instance.call(name, args as readonly WasmValue[]);
  }

  /** Calls a data function with a JSON text and resolves with the JSON text it returned (`null` for nothing). */
  async callFunctionJson(instanceId: string, name: string, json: string): Promise<string> {
    const instance = this.instanceEntry(instanceId).instance;
    if (typeof name !== 'string') throw new InvalidArguments('function name must be a string');
    const check = this.callDeadline(instanceId);
    return bytesToJsonText(name, await instance.callData(name, jsonTextToBytes(name, json, check)), check);
  }

  /** Calls a data function with one MessagePack value and resolves with the MessagePack value it returned. */
  async callFunctionMsgpack(instanceId: string, name: string, bytes: Uint8Array): Promise<Uint8Array> {
    const instance = this.instanceEntry(instanceId).instance;
    if (typeof name !== 'string') throw new InvalidArguments('function name must be a string');
    const check = this.callDeadline(instanceId);
    return checkMsgpackOutput(name, await instance.callData(name, checkMsgpackInput(name, bytes, check)), check);
  }

  /** Calls a data function with raw bytes, for encodings of the caller's own. */
  async callFunctionBytes(instanceId: string, name: string, bytes: Uint8Array): Promise<Uint8Array> {
    const instance = this.instanceEntry(instanceId).instance;
    if (typeof name !== 'string') throw new InvalidArguments('function name must be a string');
    if (!(bytes instanceof Uint8Array)) throw new InvalidArguments(`callFunctionBytes('${name}') expects a Uint8Array`);
    return instance.callData(name, bytes);
  }

  /** The data functions an instance offers, by the name callers use. */
  listDataFunctions(instanceId: string): string[] {
    return [...this.instanceEntry(instanceId).instance.dataFunctions.keys()];
  }

  /** A copy of `len` bytes of the instance's exported memory at `ptr`. Never while one of its calls runs. */
  async readMemory(instanceId: string, ptr: number, len: number): Promise<Uint8Array> {
    return this.instanceEntry(instanceId).instance.readMemory(ptr, len);
  }

  /**
   * Copies `bytes` into the instance's exported memory at `ptr`; out of bounds is a `Trap('out-of-bounds')`
   * and nothing is written. Never while one of its calls runs.
   */
  async writeMemory(instanceId: string, ptr: number, bytes: Uint8Array): Promise<void> {
    return this.instanceEntry(instanceId).instance.writeMemory(ptr, bytes);
  }

  /** A cached handle to `name`; the handle keeps working until the instance is destroyed. */
  getFunction<A extends WasmValue[] = WasmValue[], R extends WasmResult = WasmResult>(instanceId: string, name: string): TypedFunction<A, R> {
    const entry = this.instanceEntry(instanceId);
    const cached = entry.handles.get(name);
    if (cached) return cached;
    const instance = entry.instance;
    if (typeof name === 'string' && isDataCall(instance, name)) {
      const data = (...args: A): Promise<R> => this.callFunction(instanceId, name, args) as Promise<unknown> as Promise<R>;
      const handle = Object.assign(data, { sync: undefined, functionName: name });
      entry.handles.set(name, handle);
      return handle;
    }
    if (!instance.functions.has(name)) throw new FunctionNotFound(String(name), [...instance.functions.keys()]);
    if (instance.suspending) {
      const refuse = (): R => {
        throw new AsyncRequired(name);
      };
      const handle = Object.assign((...args: A) => instance.call(name, args) as Promise<R>, { sync: refuse as (...args: A) => R, functionName: name });
      entry.handles.set(name, handle);
      return handle;
    }
    const sync = instance.syncHandle(name) as ((...args: A) => R) | undefined;
    const call = sync
      ? (...args: A): Promise<R> => {
          try {
            return Promise.resolve(sync(...args));
          } catch (err) {
            return Promise.reject(err);
          }
        }
      : (...args: A): Promise<R> => instance.call(name, args) as Promise<R>;
    const handle = Object.assign(call, { sync, functionName: name });
    entry.handles.set(name, handle);
    return handle;
  }

  /**
   * Runs a WASI command (`_start`) and resolves with its exit code. `proc_exit` ends the guest, never
   * the host; traps, limits and timeouts reject with their typed errors.
   */
  async runCommand(instanceId: string): Promise<number> {
    return this.instanceEntry(instanceId).instance.runCommand();
  }

  /** What the guest wrote to streams whose stdio mode is `capture`. */
  getOutput(instanceId: string): CapturedOutput {
    return this.instanceEntry(instanceId).instance.output();
  }

  /** Fuel left, or null when the instance has no fuel limit. */
  getFuel(instanceId: string): number | null {
    return this.instanceEntry(instanceId).instance.getFuel();
  }

  /**
   * Raises the instance's fuel budget by `units`, so a guest stopped by `ResourceLimitExceeded('fuel')` can
   * be called again; `InvalidArguments` when it has no fuel limit.
   */
  addFuel(instanceId: string, units: number): void {
    this.instanceEntry(instanceId).instance.addFuel(units);
  }

  /**
   * Counters of the instance since it was created: memory, fuel, calls, traps, time, descriptors and bytes
   * moved.
   */
  getMetrics(instanceId: string): InstanceMetrics {
    return this.instanceEntry(instanceId).instance.metrics();
  }

  /**
   * Stops the instance (terminating its thread on the worker runtime, even mid-call) and frees it; its id is
   * then unknown (`InstanceNotFound`).
   */
  async destroyInstance(instanceId: string): Promise<void> {
    const entry = this.instanceEntry(instanceId);
    this.instances.delete(instanceId);
    await entry.instance.destroy();
  }

  /** Forgets a module; instances already created from it keep running until destroyed. */
  unloadModule(moduleId: string): void {
    const entry = this.moduleEntry(moduleId);
    this.modules.delete(moduleId);
    entry.module.dispose();
  }

  /** The modules currently loaded. */
  listModules(): ModuleSummary[] {
    return [...this.modules.values()].map((e) => ({ ...e.summary }));
  }

  /** The instances currently alive. */
  listInstances(): InstanceSummary[] {
    return [...this.instances.values()].map((e) => ({ ...e.summary }));
  }

  /**
   * Destroys every instance, unloads every module and stops the runtime; later calls fail with
   * `SandboxClosed`. Closing twice is harmless.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.instances.values()].map((e) => e.instance.destroy()));
    this.instances.clear();
    for (const e of this.modules.values()) e.module.dispose();
    this.modules.clear();
    await this.runtime.close();
  }

  private moduleEntry(moduleId: string): ModuleEntry {
    this.ensureOpen();
    const entry = typeof moduleId === 'string' ? this.modules.get(moduleId) : undefined;
    if (!entry) throw new ModuleNotFound(String(moduleId));
    return entry;
  }

  /** The call's deadline, started now: checking its payloads counts against the call's timeout too. */
  private callDeadline(instanceId: string): () => void {
    return callDeadline(this.instanceEntry(instanceId).callTimeoutMs);
  }

  private instanceEntry(instanceId: string): InstanceEntry {
    this.ensureOpen();
    const entry = typeof instanceId === 'string' ? this.instances.get(instanceId) : undefined;
    if (!entry) throw new InstanceNotFound(String(instanceId));
    return entry;
  }

  private report(instanceId: string, err: unknown): void {
    if (err instanceof ResourceLimitExceeded) this.emit('limit', { instanceId, error: err });
    else if (err instanceof SecurityViolation) this.emit('violation', { instanceId, capability: err.capability, detail: err.detail });
    else if (err instanceof Trap) this.emit('trap', { instanceId, error: err });
  }
}

async function createRuntime(kind: RuntimeKind, observer: RuntimeObserver, options: SandboxOptions): Promise<WasmRuntime> {
  const store = options.cacheDir === undefined ? undefined : new InstrumentedStore(options.cacheDir, options.cacheMaxBytes);
  switch (kind) {
    case 'inprocess':
      return new InProcessRuntime(observer, store);
    case 'worker': {
      const { WorkerRuntime } = await import('../runtime/worker/worker-runtime.ts');
      return new WorkerRuntime(observer, { poolSize: options.workerPoolSize, store });
    }
    default:
      throw new InvalidArguments(`unknown runtime '${String(kind)}'; expected 'inprocess' or 'worker'`);
  }
}

function moduleBytes(bytes: Uint8Array | ArrayBuffer): Uint8Array {
  const value: unknown = bytes;
  if (!(value instanceof ArrayBuffer || value instanceof SharedArrayBuffer || ArrayBuffer.isView(value))) {
    throw new InvalidArguments(`loadModule expects a Uint8Array or ArrayBuffer, got ${value === null ? 'null' : typeof value}`);
  }
  return toBytes(bytes);
}

function resolveConfig(config: InstanceConfig): ResolvedInstanceConfig {
  checkOptionKeys<InstanceConfig>('instance config', config, INSTANCE_CONFIG);
  const hostFunctions = config.hostFunctions ?? {};
  for (const [mod, fns] of Object.entries(hostFunctions)) {
    if (!fns || typeof fns !== 'object') throw new InvalidArguments(`hostFunctions.${mod} must be an object of functions`);
    for (const [name, fn] of Object.entries(fns)) {
      if (typeof fn !== 'function') throw new InvalidArguments(`hostFunctions.${mod}.${name} must be a function`);
    }
  }
  return {
    capabilities: Capabilities.from(config.capabilities),
    resourceLimits: ResourceLimits.from(config.resourceLimits),
    hostFunctions,
    imports: config.imports ?? {},
    wasi: config.wasi ?? {},
    extism: resolveExtism(config.extism),
    initialize: resolveInitialize(config.initialize),
    recycle: resolveRecycle(config.recycle),
  };
}

function resolveInitialize(init: InstanceConfig['initialize']): ResolvedInstanceConfig['initialize'] {
  if (init === undefined) return undefined;
  if (init === null || typeof init !== 'object' || typeof init.function !== 'string') throw new InvalidArguments('initialize must be { function: string, args?: [...] }');
  if (init.args !== undefined && !Array.isArray(init.args)) throw new InvalidArguments(`initialize.args for '${init.function}' must be an array`);
  return { function: init.function, args: [...(init.args ?? [])] };
}

function resolveRecycle(recycle: unknown): boolean {
  if (recycle !== undefined && typeof recycle !== 'boolean') throw new InvalidArguments('recycle must be a boolean');
  return recycle === true;
}

function resolveExtism(options: ExtismOptions | undefined): ExtismOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw new InvalidArguments('extism must be an object');
  const { config, logLevel, onLog, maxVarBytes } = options;
  if (config !== undefined) {
    if (config === null || typeof config !== 'object') throw new InvalidArguments('extism.config must be an object of strings');
    for (const [key, value] of Object.entries(config)) {
      if (typeof value !== 'string') throw new InvalidArguments(`extism.config.${key} must be a string`);
    }
  }
  if (logLevel !== undefined && !['trace', 'debug', 'info', 'warn', 'error', 'off'].includes(logLevel)) {
    throw new InvalidArguments(`extism.logLevel must be one of trace, debug, info, warn, error, off; got ${String(logLevel)}`);
  }
  if (onLog !== undefined && typeof onLog !== 'function') throw new InvalidArguments('extism.onLog must be a function');
  if (maxVarBytes !== undefined && (!Number.isSafeInteger(maxVarBytes) || maxVarBytes < 0)) {
    throw new InvalidArguments('extism.maxVarBytes must be a non-negative integer');
  }
  return { config: config && { ...config }, logLevel, onLog, maxVarBytes };
}

/**
 * Whether `callFunction(name)` is a structured call: a data function with no numeric export of the
 * same name, or an Extism plugin function (which has no numeric meaning of its own).
 */
function isDataCall(instance: WasmInstance, name: string): boolean {
  const data = instance.dataFunctions.get(name);
  return data !== undefined && (data.kind === 'extism' || !instance.functions.has(name));
}
