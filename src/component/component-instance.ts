/**
 * One instantiated component. Calls are addressed by WIT path (`package:name/interface#function`,
 * or the bare name of a root-level function), checked against the WIT types, and run under the
 * instance's limits. A trap, a stopped call (deadline, fuel, limit) or an exit leaves the instance
 * unusable, as jco's glue and the core instances cannot be resumed; with `reinstantiateOnTrap` the
 * next call transparently starts from a fresh instance instead.
 */
import { InstanceUnusable, InvalidArguments, FunctionNotFound, Timeout, Trap, WasmSandboxError } from '../errors.ts';
import { toSandboxError, wasmFrames } from '../runtime/traps.ts';
import type { Capabilities } from '../security/capabilities.ts';
import type { ResourceLimits } from '../security/resource-limits.ts';
import { InputSource, OutputBudget, OutputSink } from '../wasi/stdio.ts';
import type { ComponentModule } from './component-module.ts';
import { CoreLimits } from './core-limits.ts';
import { resolveImports, type ImportProvider } from './import-resolver.ts';
import { ExitSignal, type Violation } from './wasi/host-state.ts';
import type { HttpErrorCode, HttpRequestInit, HttpResponse, HttpStreams, IncomingExchange } from './wasi/http.ts';
import { Preview2Host, unversioned } from './wasi/preview2-host.ts';
import { compileDirectCall } from './abi/direct-call.ts';
import type { GlueState } from './glue-transform.ts';
import type { CoreItem, Func } from './wit/decode-component.ts';
import { camelCase, functionRole, pascalCase } from './wit/interfaces.ts';
import { compileArgsCheck } from './wit/value-check.ts';

/** Options of one component instance (through `ComponentRuntime.instantiate`). */
export interface ComponentInstanceOptions {
  /** What the component may touch; defaults to the runtime's. */
  capabilities?: Capabilities;
  /** How much it may consume; defaults to the runtime's. */
  resourceLimits?: ResourceLimits;
  /**
   * Non-WASI imports, by interface name (`example:kv/store`): an object of functions and resource
   * classes named as jco names them (camelCase functions, PascalCase classes), or another
   * `ComponentInstance` exporting that interface. Each function must be granted in
   * `capabilities.hostFunctions` (`example:kv/store.get`, `example:kv/store.*`, `$root.name` for a
   * world-level function), or instantiation fails with SecurityViolation('hostFunctions').
   */
  imports?: Record<string, object>;
  /** Replace the instance after a trap, stopped call or exit, instead of failing every later call. */
  reinstantiateOnTrap?: boolean;
  /** argv[0] as `wasi:cli/environment` reports it; default `component.wasm`. */
  programName?: string;
  /** The bytes read from stdin when `capabilities.stdio.stdin` is `capture`. */
  stdin?: Uint8Array | string;
  /**
   * void; @@ export interface ComponentInstanceOptions => Called with each chunk the component writes to
   * stdout, in addition to capture or inherit.
   */
  onStdout?: (chunk: Uint8Array) => void;
  /**
   * void; @@ export interface ComponentInstanceOptions => Called with each chunk the component writes to
   * stderr, in addition to capture or inherit.
   */
  onStderr?: (chunk: Uint8Array) => void;
  /** Every refused operation (a path outside a preopen, a denied address, …), for monitoring. */
  onViolation?: (v: Violation) => void;
  /**
   * Call exported functions through our own Canonical ABI straight into the core function they are
   * lifted from, rather than through jco's per-call bindings (default true). Functions whose types
   * involve resources or async always go through jco.
   */
  directCalls?: boolean;
  /**
   * @internal Called before the guest's thread waits for anything (I/O, a timer, the network), and
   * between the slices of a long wait: a host forwarding the guest's output elsewhere flushes it here.
   */
  beforeWait?: () => void;
  /**
   * @internal Meter the core modules with a checkpoint every fuel slice even without a clock limit, so
   * that the thread they run on reaches host code often enough for a termination to take effect.
   */
  interruptible?: boolean;
}

/** Counters of a component instance since its creation, summed over re-instantiations. */
export interface ComponentMetrics {
  /** How many times it was instantiated (1, plus one per `reinstantiateOnTrap` replacement). */
  instantiations: number;
  /** Fuel units its core modules spent together. */
  fuelConsumed: number;
  /** Bytes read from files, sockets and HTTP bodies (see `io.maxReadBytes`). */
  bytesRead: number;
  /** Bytes written to files and sockets (see `io.maxWriteBytes`). */
  bytesWritten: number;
  /** Bytes written to stdout and stderr (see `io.maxOutputBytes`). */
  outputBytes: number;
  /** Descriptors the live instance holds open now. */
  openFiles: number;
}

interface Live {
  readonly jco: Record<string, unknown>;
  readonly host: Preview2Host;
  readonly limits: CoreLimits;
  /** Core instances by their module's position in the binary, in instantiation order. */
  readonly cores: Map<number, WebAssembly.Instance[]>;
  readonly glue: GlueState | undefined;
}

/** How long a stopped async call waits for host stream copies the guest started to finish. */
const STREAM_FLUSH_MS = 1000;

interface Entry {
  /** Runs the function and returns its value, a top-level `result` as `{ tag, val }`. */
  readonly run: (args: unknown[]) => unknown;
  readonly check: (args: readonly unknown[]) => unknown[];
  /** jco reports the `err` of a top-level result by throwing its payload. */
  readonly throwsErr: boolean;
  readonly direct: boolean;
  /** An async (WASI 0.3) export: `run` returns the task's promise. */
  readonly async: boolean;
}

let nextId = 1;

/**
 * A running component: call its exports by path (`call`) or through jco's typed bindings (`exports`), under
 * the capabilities and limits it was instantiated with. Create it with `ComponentRuntime.instantiate`; free
 * it with `close`.
 */
export class ComponentInstance<Exports extends object = Record<string, any>> implements ImportProvider {
  /** Unique id of this instance within the process, for logs and monitoring. */
  readonly id = `component-instance-${nextId++}`;
  /** The component it was instantiated from. */
  readonly component: ComponentModule;
  /** What it may touch. */
  readonly capabilities: Capabilities;
  /** How much it may consume. */
  readonly resourceLimits: ResourceLimits;
  /**
   * Functions by interface, as `instance.call()` runs them: `exports['example:greeter/greet'].hello(…)`
   * (WIT and camelCase names both work; a versioned interface is there with and without its
   * `@version`); root-level functions directly on `exports`. Every function returns a Promise.
   * `wasm-sandbox types` writes the declarations of this object for a component.
   */
  readonly exports: Exports;
  /** The code of the last `wasi:cli/exit`, if the component exited. */
  exitCode: number | undefined;
  private readonly options: ComponentInstanceOptions;
  private readonly budget: OutputBudget;
  private readonly stdin: InputSource;
  private readonly stdoutSink: OutputSink;
  private readonly stderrSink: OutputSink;
  private live: Live | undefined;
  private starting: Promise<void> | undefined;
  private unusable: string | undefined;
  private closed = false;
  private instantiations = 0;
  private readonly entries = new Map<string, Entry>();
  private retired = { fuel: 0, bytesRead: 0, bytesWritten: 0 };
  private httpHandlerPath: string | undefined;

  /** @internal Use `ComponentRuntime.instantiate`. */
  constructor(component: ComponentModule, capabilities: Capabilities, resourceLimits: ResourceLimits, options: ComponentInstanceOptions) {
    this.component = component;
    this.capabilities = capabilities;
    this.resourceLimits = resourceLimits;
    this.options = options;
    this.budget = new OutputBudget(resourceLimits.io.maxOutputBytes);
    // Output goes to our sinks even while blocked writes wait; deadlines are the call's.
    const interrupt = (): void => this.live?.limits.checkClock();
    this.stdin = new InputSource(capabilities.stdio.stdin, options.stdin);
    this.stdoutSink = new OutputSink(capabilities.stdio.stdout, 1, options.onStdout, this.budget, interrupt);
    this.stderrSink = new OutputSink(capabilities.stdio.stderr, 2, options.onStderr, this.budget, interrupt);
    this.exports = this.buildExports() as Exports;
  }

  /** @internal Creates the live instance; the runtime awaits this before handing the instance out. */
  async start(): Promise<void> {
    const limits = new CoreLimits(this.resourceLimits, undefined, this.options.interruptible);
    const beforeWait = this.options.beforeWait;
    const modules = await this.component.coreModules(limits.instrumentation);
    const host = new Preview2Host({
      capabilities: this.capabilities,
      resourceLimits: this.resourceLimits,
      stdin: this.stdin,
      stdout: this.stdoutSink,
      stderr: this.stderrSink,
      programName: this.options.programName ?? 'component.wasm',
      checkInterrupt: beforeWait ? () => (beforeWait(), limits.checkClock()) : () => limits.checkClock(),
      remainingMs: () => limits.remainingMs(),
      onViolation: this.options.onViolation,
    }, this.component.wasiImports, this.component.wasi3Imports);
    let jco: Record<string, unknown>;
    const cores = new Map<number, WebAssembly.Instance[]>();
    const files = new Map<WebAssembly.Module, string>();
    for (const [name, m] of modules) files.set(m, name);
    let glue: GlueState | undefined;
    const instantiateCore = (module: WebAssembly.Module, imports?: WebAssembly.Imports): WebAssembly.Instance => {
      const instance = limits.instantiateCore(module, imports);
      const index = this.component.staticIndex(files.get(module) ?? '');
      if (index !== undefined) {
        const list = cores.get(index) ?? [];
        list.push(instance);
        cores.set(index, list);
      }
      return instance;
    };
    // See glue-transform.ts.
    (instantiateCore as { glueState?: unknown }).glueState = (state: GlueState) => (glue = state);
    try {
      const imports = resolveImports(this.component, this.options.imports ?? {}, host);
      limits.enter('initialization');
      try {
        jco = await this.component.transpiled.instantiate((name) => {
          const m = modules.get(name);
          if (!m) throw new Trap('host-error', `jco asked for an unknown core module '${name}'`);
          return m;
        }, imports, instantiateCore);
      } finally {
        limits.exit();
      }
    } catch (err) {
      host.close();
      throw err instanceof WasmSandboxError ? err : toSandboxError(host.state.stoppedBy ?? err, 'component instantiation');
    }
    this.live = { jco, host, limits, cores, glue };
    this.entries.clear();
    this.unusable = undefined;
    this.instantiations++;
  }

  private async restart(): Promise<void> {
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /**
   * Calls an exported function: `call('example:greeter/greet#hello', ['World'])`. Arguments and
   * results use jco's JavaScript representation of WIT values (see docs/components.md); a function
   * returning `result<T, E>` resolves to `{ tag: 'ok', val }` or `{ tag: 'err', val }`.
   */
  call(path: string, args: readonly unknown[] = []): Promise<unknown> {
    // Not an async function: on the common path that saves its machinery, a measurable share of a call.
    if (this.unusable !== undefined && this.options.reinstantiateOnTrap && !this.closed) {
      return this.restart().then(() => this.invoke(path, args, true));
    }
    try {
      return Promise.resolve(this.invoke(path, args, true));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** @internal For a component importing from this one: synchronous, arguments already typed by its glue. */
  callFromComponent(path: string, args: unknown[]): unknown {
    return this.invoke(path, args, false);
  }

  /** @internal */
  exportObject(name: string): Record<string, unknown> | undefined {
    return this.live?.jco[name] as Record<string, unknown> | undefined;
  }

  private invoke(path: string, args: readonly unknown[], check: boolean): unknown {
    if (this.closed) throw new InstanceUnusable(this.id, 'it was closed');
    if (this.unusable !== undefined) throw new InstanceUnusable(this.id, this.unusable);
    const live = this.live!;
    const entry = this.entry(path);
    const a = check ? entry.check(args) : (args as unknown[]);
    let pending = false;
    try {
      live.limits.enter();
      const out = entry.run(a);
      if (!entry.async) return out;
      pending = true;
      return this.settle(out as Promise<unknown>, entry, path, live);
    } catch (err) {
      return this.failed(err, entry, path, live);
    } finally {
      if (!pending) live.limits.exit();
    }
  }

  /**
   * An async export's task: the call stays entered (its deadline and fuel running) until the task
   * completes, the host stops the guest (exit, a refused grant), or the call's deadline passes.
   */
  private async settle(task: Promise<unknown>, entry: Entry, path: string, live: Live): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const ms = live.limits.remainingMs();
      const stopped = live.host.state.whenStopped().then((err) => Promise.reject(err));
      // The meter decides which deadline passed (call, lifetime); a timer only makes it look.
      const deadline = Number.isFinite(ms)
        ? new Promise<never>((_, reject) => {
          const started = performance.now();
          timer = setTimeout(() => {
            try {
              live.limits.checkClock();
              reject(new Timeout('call', ms, performance.now() - started));
            } catch (err) {
              reject(err);
            }
          }, Math.ceil(ms) + 1);
        })
        : undefined;
      return await Promise.race(deadline ? [task, stopped, deadline] : [task, stopped]);
    } catch (err) {
      // What the guest handed to a host stream before it stopped still lands (a bounded wait).
      if (live.host.state.stoppedBy !== undefined) await live.host.state.released(STREAM_FLUSH_MS);
      else if (err instanceof Error && !(entry.throwsErr && Object.hasOwn(err, 'payload'))) live.host.state.halt(err);
      return this.failed(err, entry, path, live);
    } finally {
      clearTimeout(timer);
      live.limits.exit();
    }
  }

  private failed(err: unknown, entry: Entry, path: string, live: Live): unknown {
    // jco reports the `err` case of a top-level result by throwing its payload, which is never an
    // Error; for an async export, by rejecting with an Error carrying it as `payload`.
    if (entry.throwsErr && !(err instanceof Error)) return { tag: 'err', val: err };
    if (entry.throwsErr && entry.async && err instanceof Error && Object.hasOwn(err, 'payload') && live.host.state.stoppedBy === undefined) {
      return { tag: 'err', val: (err as Error & { payload: unknown }).payload };
    }
    const returnsResult = this.lookup(path).func.type.result?.kind === 'result';
    const stopped = live.host.state.stoppedBy;
    const cause = stopped ?? err;
    if (cause instanceof ExitSignal) {
      this.exitCode = cause.code;
      this.retire(`the component exited with code ${cause.code}`);
      return returnsResult ? { tag: cause.code === 0 ? 'ok' : 'err', val: undefined } : undefined;
    }
    // Arguments are checked before the call, except which resource a handle is: jco refuses a handle
    // of another type before entering the guest, so the instance is fine.
    if (err instanceof TypeError && stopped === undefined && /^Resource error/.test(err.message) && wasmFrames(err).length === 0) {
      throw new InvalidArguments(`${path}: ${err.message}`);
    }
    // jco rewrites trap messages with its own 'wasm trap: ' prefix, which toSandboxError adds too.
    if (cause instanceof WebAssembly.RuntimeError && cause.message.startsWith('wasm trap: ')) cause.message = cause.message.slice(11);
    const error = toSandboxError(cause, `component call '${path}'`);
    if (live.host.state.unreported(cause)) this.options.onViolation?.({ capability: cause.capability, detail: cause.detail });
    this.retire(error.message);
    throw error;
  }

  private retire(reason: string): void {
    this.unusable = reason;
    const live = this.live;
    if (live) {
      this.retired.fuel += live.limits.fuelConsumed();
      this.retired.bytesRead += live.host.state.bytesRead;
      this.retired.bytesWritten += live.host.state.bytesWritten;
      live.host.close();
    }
  }

  private entry(path: string): Entry {
    let e = this.entries.get(path);
    if (!e) {
      e = this.makeEntry(path);
      this.entries.set(path, e);
    }
    return e;
  }

  /** Finds the export a path names, by exact name or ignoring the interface version. */
  private lookup(path: string): { iface: string | null; name: string; func: Func } {
    const hash = path.indexOf('#');
    const exports = this.component.decoded.exports;
    if (hash < 0) {
      const item = exports.get(path);
      if (item?.sort === 'func') return { iface: null, name: path, func: item.func };
    } else {
      const ifaceName = path.slice(0, hash);
      const name = path.slice(hash + 1);
      let iface = exports.has(ifaceName) ? ifaceName : undefined;
      if (!iface) for (const k of exports.keys()) if (unversioned(k) === unversioned(ifaceName)) iface = k;
      const item = iface === undefined ? undefined : exports.get(iface);
      const member = item?.sort === 'instance' ? item.instance.exports.get(name) : undefined;
      if (member?.sort === 'func') return { iface: iface!, name, func: member.func };
    }
    throw new FunctionNotFound(path, this.component.describe().functions.map((f) => f.path));
  }

  /** The live value a core item of the component names, for the direct call path. */
  private resolveCore(item: CoreItem): unknown {
    if (item.kind !== 'export') return undefined;
    if (item.instance.kind === 'inline') {
      const inner = item.instance.exports.get(item.name);
      return inner ? this.resolveCore(inner) : undefined;
    }
    const instance = this.live?.cores.get(item.instance.module.index)?.[item.instance.seq];
    return instance?.exports[item.name];
  }

  private makeEntry(path: string): Entry {
    const { iface, name, func } = this.lookup(path);
    const role = functionRole(name);
    const check = compileArgsCheck(func.type, path);
    const async = func.type.async;
    if (role.kind === 'function' && this.options.directCalls !== false && !async) {
      const direct = compileDirectCall(func, (item) => this.resolveCore(item));
      // A guest that calls imports must be inside a task of jco's while it does (see glue-transform.ts);
      // one that calls none is spared the task.
      const inTask = this.component.decoded.imports.size > 0 ? this.live?.glue?.callInTask : undefined;
      if (direct && inTask) return { run: (args) => inTask(0, () => direct(args)), check, throwsErr: false, direct: true, async };
      if (direct) return { run: direct, check, throwsErr: false, direct: true, async };
    }
    const returnsResult = func.type.result?.kind === 'result';
    const jco = (): Record<string, unknown> => {
      const root = this.live!.jco;
      return (iface === null ? root : root[iface]) as Record<string, unknown>;
    };
    const cls = (): any => jco()[pascalCase(role.resource!)];
    let run: (args: unknown[]) => unknown;
    switch (role.kind) {
      case 'function': {
        const key = camelCase(name);
        run = (args) => (jco()[key] as (...a: unknown[]) => unknown)(...args);
        break;
      }
      case 'constructor':
        run = (args) => new (cls())(...args);
        break;
      case 'method': {
        const key = camelCase(role.member);
        run = ([self, ...rest]) => {
          const fn = cls().prototype[key] as (...a: unknown[]) => unknown;
          return fn.apply(self, rest);
        };
        break;
      }
      case 'static': {
        const key = camelCase(role.member);
        run = (args) => cls()[key](...args);
        break;
      }
    }
    if (returnsResult) {
      const bare = run;
      run = async ? (args) => (bare(args) as Promise<unknown>).then((val) => ({ tag: 'ok', val })) : (args) => ({ tag: 'ok', val: bare(args) });
    }
    return { run, check, throwsErr: returnsResult, direct: false, async };
  }

  private buildExports(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, item] of this.component.decoded.exports) {
      if (item.sort === 'func') {
        const fn = (...args: unknown[]) => this.call(name, args);
        out[name] = fn;
        out[camelCase(name)] = fn;
      } else if (item.sort === 'instance') {
        const iface: Record<string, unknown> = {};
        for (const [member, m] of item.instance.exports) {
          if (m.sort !== 'func') continue;
          const fn = (...args: unknown[]) => this.call(`${name}#${member}`, args);
          iface[member] = fn;
          if (functionRole(member).kind === 'function') iface[camelCase(member)] = fn;
        }
        out[name] = Object.freeze(iface);
      }
    }
    // `call()` takes an interface with or without its `@version`; so does this object.
    for (const name of Object.keys(out)) {
      const bare = unversioned(name);
      if (bare !== name && !(bare in out)) out[bare] = out[name];
    }
    return Object.freeze(out);
  }

  /**
   * @internal The sizes of jco's bookkeeping for this instance: tasks on its task lists and live
   * entries in its handle tables. Both return to their size between calls, however many are made.
   */
  glueTables(): { tasks: number; handles: number } | undefined {
    const glue = this.live?.glue;
    if (!glue) return undefined;
    let tasks = 0;
    for (const list of glue.tasks.values()) tasks += list.length;
    let handles = 0;
    for (const state of glue.states.values()) {
      const data = state.handles?.data() ?? [];
      // Slots are [value, link] pairs after a header pair; a freed slot holds a symbol.
      for (let i = 2; i < data.length; i += 2) if (data[i] !== null && typeof data[i] !== 'symbol') handles++;
    }
    return { tasks, handles };
  }

  /** @internal Which way calls to `path` go: straight into the core function, or through jco's bindings. */
  callPathOf(path: string): 'direct' | 'jco' {
    return this.entry(path).direct ? 'direct' : 'jco';
  }

  /** Everything written to stdout so far (capture mode). */
  stdout(): Uint8Array {
    return this.stdoutSink.bytes();
  }

  /** Everything written to stderr so far (capture mode). */
  stderr(): Uint8Array {
    return this.stderrSink.bytes();
  }

  /** Whether calls currently fail (after a trap or exit, without `reinstantiateOnTrap`). */
  get usable(): boolean {
    return !this.closed && this.unusable === undefined;
  }

  /** Its counters, summed over re-instantiations. */
  metrics(): ComponentMetrics {
    const live = this.unusable === undefined ? this.live : undefined;
    return {
      instantiations: this.instantiations,
      fuelConsumed: this.retired.fuel + (live?.limits.fuelConsumed() ?? 0),
      bytesRead: this.retired.bytesRead + (live?.host.state.bytesRead ?? 0),
      bytesWritten: this.retired.bytesWritten + (live?.host.state.bytesWritten ?? 0),
      outputBytes: this.budget.used,
      openFiles: live?.host.state.openFiles ?? 0,
    };
  }

  /**
   * Serves one request with the component's `wasi:http/incoming-handler` export: the request is
   * handed to `handle`, and the response the component set is collected once it returns.
   */
  async handleHttpRequest(request: HttpRequestInit): Promise<HttpResponse> {
    if (this.unusable !== undefined && this.options.reinstantiateOnTrap && !this.closed) await this.restart();
    const incoming = this.runHttpHandler(request, undefined);
    const response = incoming.response();
    if (response === undefined) throw new Trap('host-error', 'the HTTP handler returned without setting a response');
    if ('status' in response) return response;
    throw new Trap('host-error', `the HTTP handler answered with error ${(response as HttpErrorCode).tag}`);
  }

  /**
   * @internal Serves one request with both bodies streamed, synchronously (for a server on a worker
   * thread, where blocking reads and writes wait for the main thread): the guest reads the request
   * body from `streams.body` as it asks for it, and its response goes to `streams.sink` as it is
   * produced. Returns once the handler has; the sink has then seen the end of the response.
   */
  serveHttp(request: HttpRequestInit, streams: HttpStreams): void {
    const outcome = this.runHttpHandler(request, streams).complete();
    if (outcome.tag === 'unset') throw new Trap('host-error', 'the HTTP handler returned without setting a response');
    if (outcome.tag === 'err') throw new Trap('host-error', `the HTTP handler answered with error ${outcome.val.tag}`);
  }

  private runHttpHandler(request: HttpRequestInit, streams: HttpStreams | undefined): IncomingExchange {
    // Looked up once: a server calls this for every request.
    let handler = this.httpHandlerPath;
    if (handler === undefined) {
      const name = this.component.exportNames.find((n) => unversioned(n) === 'wasi:http/incoming-handler');
      if (!name) throw new FunctionNotFound('wasi:http/incoming-handler#handle', this.component.describe().functions.map((f) => f.path));
      handler = this.httpHandlerPath = `${name}#handle`;
    }
    if (this.closed || this.unusable !== undefined) throw new InstanceUnusable(this.id, this.unusable ?? 'it was closed');
    const http = this.live!.host.http;
    if (!http) throw new FunctionNotFound('wasi:http/incoming-handler#handle', []);
    const incoming = http.incoming(request, streams);
    this.invoke(handler, [incoming.request, incoming.outparam], true);
    return incoming;
  }

  /** @internal Called once when the instance closes (the runtime forgets it then). */
  onClose: (() => void) | undefined;

  /** Releases the instance's host resources; later calls fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
    this.live?.host.close();
    this.stdin.close();
  }
}
