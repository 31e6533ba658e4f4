/**
 * Carries a ResolvedInstanceConfig to a worker. Functions cannot cross threads, so host functions
 * and output taps travel as names and flags the worker links to bridge stubs; capabilities and
 * limits travel as their data, with what their methods would answer worked out on the main thread.
 */
import { InvalidArguments } from '../../errors.ts';
import type { ListenerAddress, ListenerSpec } from '../../wasi/socket-protocol.ts';
import type { ModuleInfo } from '../../module/module-info.ts';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import type { ExtismLogLevel } from '../../communication/extism-kernel.ts';
import { isStdinStream, type ExternImports, type HostFunction, type HostFunctions, type ResolvedInstanceConfig } from '../types.ts';

export interface PortableConfig {
  /** The plain data of the Capabilities object. */
  capabilities: object;
  /** `module.name` of the imported host functions the capabilities allow. */
  allowedHostFunctions: string[];
  /** The plain data of the ResourceLimits object. */
  resourceLimits: object;
  maxPages: number | null;
  /** Imported host functions the config provides, by bridge index. */
  hostFunctions: [module: string, name: string][];
  imports: ExternImports;
  wasi: {
    stdin: Uint8Array | string | undefined;
    /** Whether stdin is a stream the worker pulls from the main thread (`stdin` is then undefined). */
    streamStdin: boolean;
    programName: string | undefined;
    /** Whether the worker forwards what the guest writes to fd 1 / fd 2 to the main thread. */
    forwardStdout: boolean;
    forwardStderr: boolean;
    listeners: ListenerSpec[] | undefined;
    /** Whether the worker reports the bound listener addresses to the main thread. */
    forwardListening: boolean;
  };
  /** Extism plugin settings; the log callback stays here and the worker forwards lines when there is one. */
  extism: {
    config: Record<string, string> | undefined;
    logLevel: ExtismLogLevel | 'off' | undefined;
    maxVarBytes: number | undefined;
    forwardLogs: boolean;
  };
  initialize: ResolvedInstanceConfig['initialize'];
}

/** What the main thread posts before CMD_INSTANTIATE; the worker reads it synchronously, since it never idles. */
export interface InstantiateMessage {
  id: string;
  module: WebAssembly.Module;
  /** Describes `module` as compiled (instrumented). */
  info: ModuleInfo;
  config: PortableConfig;
  /** Exported functions in the order the main thread numbers them. */
  functions: string[];
  /** Data functions (structured calls) in the order the main thread numbers them. */
  dataFunctions: string[];
}

/**
 * Picks what the guest imports out of the config. `info` is the module as the embedder gave it, so
 * the sandbox's own instrumentation imports are not mistaken for host functions; `limits` are the
 * ones the worker enforces itself (deadlines are the main thread's job).
 */
export function exportConfig(config: ResolvedInstanceConfig, info: ModuleInfo, limits: ResourceLimits): { portable: PortableConfig; hostFunctions: HostFunction[] } {
  const hostFunctions: HostFunction[] = [];
  const names: [string, string][] = [];
  const allowed: string[] = [];
  const imports: ExternImports = {};
  for (const imp of info.imports) {
    if (imp.kind === 'function') {
      const fn = config.hostFunctions[imp.module]?.[imp.name];
      if (typeof fn !== 'function') continue;
      names.push([imp.module, imp.name]);
      hostFunctions.push(fn);
      if (config.capabilities.allowsHostFunction(imp.module, imp.name)) allowed.push(`${imp.module}.${imp.name}`);
      continue;
    }
    const value = config.imports[imp.module]?.[imp.name];
    if (value === undefined) continue;
    // Only shared memories can be handed to another thread; anything else would be a silent copy or a clone error.
    if (!(value instanceof WebAssembly.Memory && value.buffer instanceof SharedArrayBuffer)) {
      throw new InvalidArguments(`imports.${imp.module}.${imp.name}: the worker runtime can only pass shared memories to a guest; tables, globals and unshared memories cannot cross threads (use the in-process runtime)`);
    }
    (imports[imp.module] ??= {})[imp.name] = value;
  }
  const stdio = config.capabilities.stdio;
  const stdin = config.wasi.stdin;
  if (typeof stdin === 'function') throw new InvalidArguments('wasi.stdin must be bytes, a string or an async iterable of Uint8Array');
  const streamed = isStdinStream(stdin);
  return {
    portable: {
      capabilities: { ...config.capabilities },
      allowedHostFunctions: allowed,
      resourceLimits: { ...limits },
      maxPages: limits.maxPages,
      hostFunctions: names,
      imports,
      wasi: {
        stdin: streamed ? undefined : stdin as Uint8Array | string | undefined,
        streamStdin: streamed,
        programName: config.wasi.programName,
        forwardStdout: stdio.stdout === 'capture' || config.wasi.onStdout !== undefined,
        forwardStderr: stdio.stderr === 'capture' || config.wasi.onStderr !== undefined,
        listeners: config.wasi.listeners?.map((l) => ({ host: l.host, port: l.port })),
        forwardListening: config.wasi.onListening !== undefined,
      },
      extism: {
        config: config.extism.config ? { ...config.extism.config } : undefined,
        logLevel: config.extism.logLevel,
        maxVarBytes: config.extism.maxVarBytes,
        forwardLogs: typeof config.extism.onLog === 'function',
      },
      initialize: config.initialize,
    },
    hostFunctions,
  };
}

export interface WorkerLinks {
  hostFunction(index: number, module: string, name: string): HostFunction;
  output(fd: 1 | 2): (chunk: Uint8Array) => void;
  listening(listeners: ListenerAddress[]): void;
  log(level: ExtismLogLevel, message: string): void;
  stdinRead(max: number): Uint8Array | null;
}

/**
 * The worker-side config. Building real Capabilities and ResourceLimits objects would load the policy
 * validator (and Ajv) into every worker, tens of milliseconds per start, to re-check what the main
 * thread already validated; these stand-ins answer the same questions from the transferred data.
 */
export function importConfig(portable: PortableConfig, links: WorkerLinks): ResolvedInstanceConfig {
  const capabilities = standInCapabilities(portable.capabilities, portable.allowedHostFunctions);
  const resourceLimits = standInLimits(portable.resourceLimits, portable.maxPages);
  const hostFunctions: HostFunctions = {};
  portable.hostFunctions.forEach(([module, name], index) => {
    (hostFunctions[module] ??= {})[name] = links.hostFunction(index, module, name);
  });
  const w = portable.wasi;
  return {
    capabilities,
    resourceLimits,
    hostFunctions,
    imports: portable.imports,
    wasi: {
      stdin: w.streamStdin ? (max) => links.stdinRead(max) : w.stdin,
      programName: w.programName,
      onStdout: w.forwardStdout ? links.output(1) : undefined,
      onStderr: w.forwardStderr ? links.output(2) : undefined,
      listeners: w.listeners,
      onListening: w.forwardListening ? (listeners) => links.listening(listeners) : undefined,
    },
    extism: {
      config: portable.extism.config,
      logLevel: portable.extism.logLevel,
      maxVarBytes: portable.extism.maxVarBytes,
      onLog: portable.extism.forwardLogs ? (level, message) => links.log(level, message) : undefined,
    },
    initialize: portable.initialize,
  };
}

/** A Capabilities object rebuilt from its data (`{ ...capabilities }`) without validating it again. */
export function standInCapabilities(data: object, allowedHostFunctions: readonly string[]): Capabilities {
  const allowed = new Set(allowedHostFunctions);
  return Object.freeze({
    ...data,
    allowsHostFunction: (module: string, name: string) => allowed.has(`${module}.${name}`),
  }) as unknown as Capabilities;
}

/** A ResourceLimits object rebuilt from its data (`{ ...limits }`) and its `maxPages`. */
export function standInLimits(data: object, maxPages: number | null): ResourceLimits {
  return Object.freeze({ ...data, maxPages }) as unknown as ResourceLimits;
}
