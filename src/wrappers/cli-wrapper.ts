import { readFileSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { InvalidArguments, ModuleNotFound, ResourceLimitExceeded, Timeout, Trap, WasmSandboxError } from '../errors.ts';
import { Capabilities, type CapabilitiesInit } from '../security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../security/resource-limits.ts';
import type { InstanceMetrics, RuntimeKind, WasmResult } from '../runtime/types.ts';
import type { ListenerAddress, ListenerSpec } from '../wasi/socket-protocol.ts';
import { WasmSandbox, type CallValue } from '../sandbox/wasm-sandbox.ts';
import { checkOptionKeys, type OptionKeys } from '../option-keys.ts';

/** Options of a `CliWrapper`, for the sandbox all its runs share. */
export interface CliWrapperOptions {
  /** Where guests run; default `inprocess`. */
  runtime?: RuntimeKind;
  /** Keep instrumented modules in this directory between processes (see `SandboxOptions.cacheDir`). */
  cacheDir?: string;
}

/**
 * One run of a WASI command: the module, what it sees and what it may use. Give exactly one of `path`,
 * `module` and `bytes`.
 */
export interface CliAppOptions {
  /** One of: a path to a `.wasm` file, a module id already loaded in this wrapper's sandbox, or the bytes. */
  path?: string;
  /** The id of a module already loaded in this wrapper (see `load`). */
  module?: string;
  /** The module's bytes. */
  bytes?: Uint8Array | ArrayBuffer;
  /** Guest arguments after argv[0]; added to `capabilities.args`. */
  args?: readonly string[];
  /** Variables to set for the guest; added to `capabilities.env.set`. Nothing is inherited unless the capabilities say so. */
  env?: Record<string, string>;
  /** Data for the guest's stdin; when given, stdin is `capture` (fed from this data). */
  stdin?: Uint8Array | string;
  /** Defaults to `Capabilities.captured()`: stdout/stderr captured, clocks, randomness; no files, env or network. */
  capabilities?: Capabilities | CapabilitiesInit;
  /** Defaults to `ResourceLimits.default()`. */
  resourceLimits?: ResourceLimits | ResourceLimitsInit;
  /** argv[0]; defaults to the file name or `main.wasm`. */
  programName?: string;
  /** TCP listeners to pre-open for the guest; each must be allowed by `capabilities.network` (see `WasiIo.listeners`). */
  listeners?: readonly ListenerSpec[];
  /** Called with the bound addresses of `listeners` before the guest starts. */
  onListening?: (listeners: ListenerAddress[]) => void;
  /**
   * Call this export instead of running `_start` (after a reactor's `_initialize`), as `wasmtime run
   * --invoke` does; its results are in `CliResult.results`. Arguments are checked as for `callFunction`.
   */
  invoke?: {
    /** Name of the export to call. */
    name: string;
    /** Its arguments; none by default. */
    args?: readonly CallValue[];
  };
}

/** How a run ended and what the guest wrote. */
export interface CliResult {
  /** The guest's exit code, or null when it was stopped (see `error`). */
  exitCode: number | null;
  /** Why the guest was stopped: a Trap, ResourceLimitExceeded or Timeout. */
  error?: WasmSandboxError;
  /** What the `invoke`d export returned (absent without `invoke`, or when it failed). */
  results?: WasmResult | CallValue;
  /** What the guest wrote to stdout (captured streams only; empty when inherited). */
  stdout: Uint8Array;
  /** What the guest wrote to stderr (captured streams only; empty when inherited). */
  stderr: Uint8Array;
  /** The run's counters (memory, fuel, time, bytes moved). */
  metrics: InstanceMetrics;
  /** `stdout` decoded as UTF-8. */
  stdoutText(): string;
  /** `stderr` decoded as UTF-8. */
  stderrText(): string;
}

/** A run in progress, as `runCliAppStreaming` returns it. */
export interface CliStream {
  /** The guest's stdout and stderr as streams (chunks arrive as the guest writes them). */
  stdout: Readable;
  /** The guest's stderr as a stream. */
  stderr: Readable;
  /** Resolves when the guest has ended, like `runCliApp`. */
  result: Promise<CliResult>;
}

const decoder = new TextDecoder();

const CLI_APP_OPTIONS: OptionKeys<CliAppOptions> = {
  path: true, module: true, bytes: true, args: true, env: true, stdin: true, capabilities: true, resourceLimits: true, programName: true, listeners: true, onListening: true, invoke: true,
};

/**
 * Runs WASI command-line programs to completion in the sandbox, the library form of `wasm-sandbox run`.
 * Modules are compiled once per wrapper (by content) and each run gets a fresh instance.
 */
export class CliWrapper {
  private readonly options: CliWrapperOptions;
  private sandbox: Promise<WasmSandbox> | undefined;
  private readonly byHash = new Map<string, Promise<string>>();
  /** Files already loaded, valid while the file's identity and modification time are unchanged. */
  private readonly byPath = new Map<string, { version: string; id: Promise<string> }>();

  constructor(options: CliWrapperOptions = {}) {
    checkOptionKeys<CliWrapperOptions>('CliWrapper options', options, { runtime: true, cacheDir: true });
    this.options = options;
  }

  private getSandbox(): Promise<WasmSandbox> {
    this.sandbox ??= WasmSandbox.create({ runtime: this.options.runtime, cacheDir: this.options.cacheDir });
    return this.sandbox;
  }

  /** Loads (or reuses) the module and returns its id in this wrapper's sandbox. */
  async load(options: Pick<CliAppOptions, 'path' | 'module' | 'bytes'>): Promise<string> {
    const sandbox = await this.getSandbox();
    const given = [options.path, options.module, options.bytes].filter((v) => v !== undefined).length;
    if (given !== 1) throw new InvalidArguments('give exactly one of path, module or bytes');
    if (options.module !== undefined) {
      if (!sandbox.listModules().some((m) => m.id === options.module)) throw new ModuleNotFound(options.module);
      return options.module;
    }
    if (options.path !== undefined) return this.loadPath(sandbox, options.path);
    const bytes = options.bytes instanceof Uint8Array ? options.bytes : new Uint8Array(options.bytes as ArrayBuffer);
    // node:crypto is loaded only here: a command-line run by path never pays for it.
    const { createHash } = process.getBuiltinModule('node:crypto');
    const hash = createHash('sha256').update(bytes).digest('hex');
    let id = this.byHash.get(hash);
    if (!id) {
      id = sandbox.loadModule(bytes);
      id.catch(() => this.byHash.delete(hash));
      this.byHash.set(hash, id);
    }
    return id;
  }

  private async loadPath(sandbox: WasmSandbox, path: string): Promise<string> {
    let version: string;
    let bytes: Uint8Array;
    // Synchronous on purpose: a module is read once per change, and node:fs/promises would add a
    // millisecond to every start of the command line just by loading.
    try {
      const s = statSync(path);
      version = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
      const known = this.byPath.get(path);
      if (known && known.version === version) return known.id;
      bytes = readFileSync(path);
    } catch (err) {
      throw new ModuleNotFound(path, `cannot read '${path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const id = sandbox.loadModule(bytes);
    this.byPath.set(path, { version, id });
    id.catch(() => this.byPath.delete(path));
    return id;
  }

  /**
   * Runs the program in a fresh instance to its end and resolves with its exit code and output. A trap, limit
   * or timeout resolves too, with `exitCode: null` and `error`; bad options (or a module that cannot load or
   * link) reject with their typed error.
   */
  async runCliApp(options: CliAppOptions): Promise<CliResult> {
    return this.run(options, {});
  }

  /** Like `runCliApp`, with stdout and stderr also delivered as streams while the guest writes them. */
  runCliAppStreaming(options: CliAppOptions): CliStream {
    // node:stream is loaded only here: `wasm-sandbox run` never pays for it.
    const { Readable } = process.getBuiltinModule('node:stream');
    const stdout = new Readable({ read() {} });
    const stderr = new Readable({ read() {} });
    const result = this.run(options, { onStdout: (c) => stdout.push(c), onStderr: (c) => stderr.push(c) }).finally(() => {
      stdout.push(null);
      stderr.push(null);
    });
    return { stdout, stderr, result };
  }

  private async run(options: CliAppOptions, taps: { onStdout?: (c: Uint8Array) => void; onStderr?: (c: Uint8Array) => void }): Promise<CliResult> {
    checkOptionKeys<CliAppOptions>('runCliApp options', options, CLI_APP_OPTIONS);
    const sandbox = await this.getSandbox();
    const moduleId = await this.load(options);
    let caps = Capabilities.from(options.capabilities ?? Capabilities.captured());
    if (options.args) caps = caps.withArgs([...caps.args, ...options.args]);
    if (options.env) caps = caps.withEnv(options.env);
    if (options.stdin !== undefined) caps = caps.with({ stdio: { ...caps.stdio, stdin: 'capture' } });
    const programName = options.programName ?? (options.path ? options.path.split(/[\\/]/).pop() : undefined) ?? 'main.wasm';
    const instanceId = await sandbox.createInstance(moduleId, {
      capabilities: caps,
      resourceLimits: options.resourceLimits,
      wasi: { stdin: options.stdin, programName, listeners: options.listeners, onListening: options.onListening, ...taps },
    });
    try {
      let exitCode: number | null = null;
      let error: WasmSandboxError | undefined;
      let results: WasmResult | CallValue | undefined;
      try {
        if (options.invoke) {
          results = await sandbox.callFunction(instanceId, options.invoke.name, options.invoke.args ?? []);
          exitCode = 0;
        } else {
          exitCode = await sandbox.runCommand(instanceId);
        }
      } catch (err) {
        if (err instanceof Trap || err instanceof ResourceLimitExceeded || err instanceof Timeout) error = err;
        else throw err;
      }
      const { stdout, stderr } = sandbox.getOutput(instanceId);
      return {
        exitCode,
        error,
        ...(options.invoke && !error && { results }),
        stdout,
        stderr,
        metrics: sandbox.getMetrics(instanceId),
        stdoutText: () => decoder.decode(stdout),
        stderrText: () => decoder.decode(stderr),
      };
    } finally {
      await sandbox.destroyInstance(instanceId);
    }
  }

  /** Closes the wrapper's sandbox and forgets its modules; a later run starts a new sandbox. */
  async close(): Promise<void> {
    const sandbox = this.sandbox;
    this.sandbox = undefined;
    this.byHash.clear();
    this.byPath.clear();
    if (sandbox) await (await sandbox).close();
  }
}
