/**
 * The single error hierarchy of wasm-sandbox. Every failure that reaches a caller is a
 * `WasmSandboxError` with a stable `code`, so callers can branch on `code` (or `instanceof`)
 * without parsing messages.
 */

export type ErrorCode =
  | 'INVALID_MODULE'
  | 'MODULE_NOT_FOUND'
  | 'INSTANCE_NOT_FOUND'
  | 'FUNCTION_NOT_FOUND'
  | 'INVALID_ARGUMENTS'
  | 'TRAP'
  | 'RESOURCE_LIMIT_EXCEEDED'
  | 'SECURITY_VIOLATION'
  | 'TIMEOUT'
  | 'INVALID_POLICY'
  | 'MISSING_IMPORTS'
  | 'INSTANCE_UNUSABLE'
  | 'SANDBOX_CLOSED'
  | 'GUEST_ERROR'
  | 'ABI_VIOLATION'
  | 'ASYNC_REQUIRED'
  | 'CHANNEL_CLOSED'
  | 'MISSING_DEPENDENCY'
  | 'UNSUPPORTED_PLATFORM';

/**
 * Base class of every error wasm-sandbox throws or rejects with; branch on `code` or `instanceof` a subclass.
 */
export class WasmSandboxError extends Error {
  /** Stable machine-readable kind of the failure; the same for every instance of a subclass. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The bytes are not a module (or component) this sandbox accepts: not wasm, malformed, or using a wasm
 * feature the feature policy refuses (`feature` names it). Nothing was instantiated.
 */
export class InvalidModule extends WasmSandboxError {
  /** Byte offset in the binary where decoding failed, when known. */
  readonly offset: number | undefined;
  /** The wasm feature (a key of `WasmSandbox.create({ features })`) the module was refused for, if that was the reason. */
  readonly feature: string | undefined;
  constructor(message: string, options?: { offset?: number; feature?: string; cause?: unknown }) {
    super('INVALID_MODULE', message, options);
    this.offset = options?.offset;
    this.feature = options?.feature;
  }
}

/** No module is loaded under that id (never loaded, or unloaded), or a module file could not be read. */
export class ModuleNotFound extends WasmSandboxError {
  /** The id (or file path) that was asked for. */
  readonly moduleId: string;
  constructor(moduleId: string, detail?: string) {
    super('MODULE_NOT_FOUND', detail ?? `no module with id '${moduleId}'`);
    this.moduleId = moduleId;
  }
}

/** No live instance has that id: it was never created, or was destroyed. */
export class InstanceNotFound extends WasmSandboxError {
  /** The id that was asked for. */
  readonly instanceId: string;
  constructor(instanceId: string) {
    super('INSTANCE_NOT_FOUND', `no instance with id '${instanceId}' (never created, or destroyed)`);
    this.instanceId = instanceId;
  }
}

/**
 * The module exports no function of that name (or no data function, for a structured call); `available` lists
 * what it does export.
 */
export class FunctionNotFound extends WasmSandboxError {
  /** The name that was asked for. */
  readonly functionName: string;
  /** Names of the functions that can be called instead, for the message and for suggestions. */
  readonly available: string[];
  /** `hint` says why a function of that name does not count, e.g. a numeric export asked for as a data function. */
  constructor(functionName: string, available: string[], hint?: string) {
    const list = available.length ? available.join(', ') : '(none)';
    super('FUNCTION_NOT_FOUND', hint === undefined
      ? `no exported function '${functionName}'; exported functions: ${list}`
      : `no data function '${functionName}'${hint}; data functions: ${list}`);
    this.functionName = functionName;
    this.available = available;
  }
}

/** A call or option was given the wrong number or type of values, or an unknown option key; nothing ran. */
export class InvalidArguments extends WasmSandboxError {
  /** Zero-based index of the offending parameter, when one parameter is at fault. */
  readonly parameter: number | undefined;
  /** What was expected instead, e.g. `i32` or `a non-negative integer`, when the check knows it. */
  readonly expected: string | undefined;
  constructor(message: string, options?: { parameter?: number; expected?: string }) {
    super('INVALID_ARGUMENTS', message);
    this.parameter = options?.parameter;
    this.expected = options?.expected;
  }
}

/**
 * Why a guest trapped; `host-error` is an exception thrown by a host function, `unknown` a trap V8 reported
 * in words this sandbox does not recognise.
 */
export type TrapKind =
  | 'unreachable'
  | 'out-of-bounds'
  | 'stack-overflow'
  | 'divide-by-zero'
  | 'integer-overflow'
  | 'invalid-conversion'
  | 'indirect-call-type-mismatch'
  | 'null-reference'
  | 'table-out-of-bounds'
  | 'unaligned-atomic'
  | 'out-of-memory'
  | 'host-error'
  | 'unknown';

/** One guest frame of a trap, in the terms of the module as given (before any instrumentation). */
export interface WasmFrame {
  /** Function index in the module's function index space (imports first), as `wasm-objdump` numbers it. */
  readonly function: number;
  /** The function's name from the module's `name` section, when it has one. */
  readonly name?: string;
  /** Byte offset in the module file of the instruction executing in this frame. */
  readonly offset: number;
}

/**
 * The guest stopped on a WebAssembly trap (or a host function threw). A core instance stays usable after
 * a trap; a component instance cannot be resumed: later calls fail with `InstanceUnusable` unless it was
 * instantiated with `reinstantiateOnTrap`.
 */
export class Trap extends WasmSandboxError {
  /** The class of trap, e.g. `unreachable`, `out-of-bounds`, `stack-overflow`. */
  readonly kind: TrapKind;
  /**
   * The wasm frames of the trap, innermost first, one line each: `name (wasm-function[N]:0xOFFSET)`
   * for a core module (indices and offsets of the module as given); V8's own lines for components.
   */
  readonly wasmStack: string[];
  /** The same frames, structured (empty for components). */
  readonly frames: readonly WasmFrame[];
  constructor(kind: TrapKind, message: string, options?: { wasmStack?: string[]; frames?: readonly WasmFrame[]; cause?: unknown }) {
    super('TRAP', message, options);
    this.kind = kind;
    this.wasmStack = options?.wasmStack ?? [];
    this.frames = options?.frames ?? [];
  }
}

/**
 * The resource limit that stopped the guest; each names a `ResourceLimits` field (`memory` for
 * `memory.maxMemoryBytes`/`maxMemoryPages`, `instances` for a server's or sandbox's instance cap).
 */
export type LimitName =
  | 'memory'
  | 'memory-growth-rate'
  | 'table'
  | 'fuel'
  | 'cpu-time'
  | 'stack'
  | 'file-descriptors'
  | 'network-connections'
  | 'read-bytes'
  | 'write-bytes'
  | 'output-bytes'
  | 'payload-bytes'
  | 'instances';

/**
 * The guest passed one of its `ResourceLimits`; the call stopped before the excess took effect. `max` and
 * `observed` are in the limit's unit (bytes, pages, fuel units, ms or a count). The instance is unusable
 * afterwards, except after `fuel` (add fuel and call again) and `payload-bytes` (refused before the guest ran).
 */
export class ResourceLimitExceeded extends WasmSandboxError {
  /** Which limit was hit. */
  readonly limit: LimitName;
  /** The limit's value. */
  readonly max: number;
  /** What the guest reached or asked for when it was stopped. */
  readonly observed: number;
  constructor(limit: LimitName, max: number, observed: number, detail?: string) {
    super('RESOURCE_LIMIT_EXCEEDED', `resource limit '${limit}' exceeded: limit ${max}, observed ${observed}${detail ? ` (${detail})` : ''}`);
    this.limit = limit;
    this.max = max;
    this.observed = observed;
  }
}

/**
 * The guest (or its configuration) needed a capability that was not granted: a file outside the preopens, an
 * address outside the network policy, a host function not listed, an exit. Nothing was done.
 */
export class SecurityViolation extends WasmSandboxError {
  /** The capability that would have been needed, e.g. `filesystem`, `network`, `hostFunctions`. */
  readonly capability: string;
  /** What was attempted, e.g. the path, address or import name. */
  readonly detail: string;
  constructor(capability: string, detail: string) {
    super('SECURITY_VIOLATION', `capability '${capability}' not granted: ${detail}`);
    this.capability = capability;
    this.detail = detail;
  }
}

const TIMEOUT_WHAT = { call: 'call', initialization: 'initialization', 'instance-lifetime': 'instance lifetime' } as const;

/**
 * A deadline passed and the guest was stopped; an in-process instance stopped this way is unusable afterwards
 * (`InstanceUnusable`).
 */
export class Timeout extends WasmSandboxError {
  /** Which deadline passed: a call's (`time.callTimeoutMs`), initialisation's (`time.initTimeoutMs`) or the instance's lifetime. */
  readonly kind: keyof typeof TIMEOUT_WHAT;
  /** The deadline, in milliseconds. */
  readonly timeoutMs: number;
  /** How long it had run when it was stopped, in milliseconds. */
  readonly elapsedMs: number;
  constructor(kind: keyof typeof TIMEOUT_WHAT, timeoutMs: number, elapsedMs: number) {
    super('TIMEOUT', `${TIMEOUT_WHAT[kind]} deadline of ${timeoutMs} ms exceeded (stopped after ${Math.round(elapsedMs)} ms)`);
    this.kind = kind;
    this.timeoutMs = timeoutMs;
    this.elapsedMs = elapsedMs;
  }
}

/**
 * A capabilities or resource-limits value (from code or a policy file) has an unknown key, a wrong type or an
 * absurd value; `path` names the key.
 */
export class InvalidPolicy extends WasmSandboxError {
  /** JSON-pointer-like path of the offending key, e.g. `/resourceLimits/memory/maxMemoryBytes`. */
  readonly path: string;
  constructor(path: string, message: string) {
    super('INVALID_POLICY', `invalid policy at '${path || '/'}': ${message}`);
    this.path = path;
  }
}

/** One import of a module that nothing provides. */
export interface MissingImport {
  /** Import module name, e.g. `env` or `wasi_snapshot_preview1`. */
  module: string;
  /** Import field name. */
  name: string;
  /** `function`, `memory`, `table`, `global` or `tag`. */
  kind: string;
}

/** Raised by createInstance when the config cannot satisfy every import, listing all of them at once. */
export class MissingImports extends WasmSandboxError {
  /** Every import that was not provided. */
  readonly missing: MissingImport[];
  constructor(missing: MissingImport[]) {
    super('MISSING_IMPORTS', `module needs imports that were not provided: ${missing.map((m) => `${m.module}.${m.name} (${m.kind})`).join(', ')}`);
    this.missing = missing;
  }
}

/** An instance that was stopped (timeout, fuel, fatal trap) and must be recreated. */
export class InstanceUnusable extends WasmSandboxError {
  /** The instance that can no longer be called. */
  readonly instanceId: string;
  /** Why it was stopped, e.g. the timeout or limit that ended its last call. */
  readonly reason: string;
  constructor(instanceId: string, reason: string) {
    super('INSTANCE_UNUSABLE', `instance '${instanceId}' can no longer be used: ${reason}; destroy it and create a new one`);
    this.instanceId = instanceId;
    this.reason = reason;
  }
}

/** The sandbox (or wrapper) was closed; every later call rejects with this. */
export class SandboxClosed extends WasmSandboxError {
  constructor() {
    super('SANDBOX_CLOSED', 'the sandbox has been closed');
  }
}

/**
 * The guest declined a structured call and said why (an error payload, an Extism `error_set`, a
 * JSON-RPC error object). Unlike a Trap the guest did not crash: it answered, and stays usable.
 */
export class GuestError extends WasmSandboxError {
  /** The export or remote method that failed. */
  readonly functionName: string;
  /** The guest's own error code, when it gave one (a JSON-RPC code, an application string). */
  readonly guestCode: string | number | undefined;
  /** Extra data the guest attached, as decoded JSON. */
  readonly data: unknown;
  constructor(functionName: string, message: string, options?: { guestCode?: string | number; data?: unknown }) {
    super('GUEST_ERROR', `'${functionName}' failed in the guest: ${message}`);
    this.functionName = functionName;
    this.guestCode = options?.guestCode;
    this.data = options?.data;
  }
}

/**
 * The guest broke the structured-call ABI (docs/guest-abi.md): a pointer or length outside its memory, an
 * allocation that failed, a result that is not the JSON or MessagePack it had to be. The host touched
 * nothing outside the guest's memory; the message says what was wrong.
 */
export class AbiViolation extends WasmSandboxError {
  /** The export whose call broke the ABI. */
  readonly functionName: string;
  constructor(functionName: string, detail: string) {
    super('ABI_VIOLATION', `'${functionName}' broke the guest ABI: ${detail}`);
    this.functionName = functionName;
  }
}

/**
 * A synchronous call was asked of an export that may suspend in an async host function; only the
 * promise-returning API can run it. Nothing ran.
 */
export class AsyncRequired extends WasmSandboxError {
  /** The export that was called synchronously. */
  readonly functionName: string;
  constructor(functionName: string, detail = 'the instance links async host functions, so its exports run only through the async API (await callFunction, or a handle without .sync)') {
    super('ASYNC_REQUIRED', `'${functionName}' cannot be called synchronously: ${detail}`);
    this.functionName = functionName;
  }
}

/** A communication channel (MemoryChannel, JsonRpcChannel) was closed; pending sends, receives and calls end with this. */
export class ChannelClosed extends WasmSandboxError {
  constructor(detail = 'the channel was closed') {
    super('CHANNEL_CLOSED', detail);
  }
}

/**
 * A feature needs an optional package that is not installed (components need
 * `@bytecodealliance/jco-transpile`, MCP servers `@modelcontextprotocol/sdk`). Nothing ran; install
 * `packageName` next to wasm-sandbox and call again.
 */
export class MissingDependency extends WasmSandboxError {
  /** The npm package to install. */
  readonly packageName: string;
  /** What needed it, e.g. `components`. */
  readonly feature: string;
  /** Every package the feature needs (the message's install command). */
  readonly install: readonly string[];
  constructor(packageName: string, feature: string, install: readonly string[] = [packageName], options?: { cause?: unknown }) {
    super('MISSING_DEPENDENCY', `${feature} need the optional package '${packageName}', which is not installed: npm install ${install.join(' ')}`, options);
    this.packageName = packageName;
    this.feature = feature;
    this.install = install;
  }
}

/**
 * The JavaScript runtime is older than wasm-sandbox supports (Node.js below the version in
 * package.json's `engines`), so the library refuses to start instead of failing later in an obscure way.
 */
export class UnsupportedPlatform extends WasmSandboxError {
  /** What is missing, and the version or platform needed. */
  readonly detail: string;
  constructor(detail: string) {
    super('UNSUPPORTED_PLATFORM', detail);
    this.detail = detail;
  }
}
