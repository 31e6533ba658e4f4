import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { InvalidArguments, InvalidModule, ModuleNotFound } from '../../errors.ts';
import { packageVersion } from '../../package-info.ts';
import { importOptional } from '../../optional-dependency.ts';
import { inspect, isComponent, toBytes } from '../../module/inspect.ts';
import { Capabilities, type CapabilitiesInit } from '../../security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../../security/resource-limits.ts';
import { argsDigest, AuditLog, type Denial } from './audit-log.ts';
import type { ToolHandlers } from './mcp-protocol.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from './message-limit.ts';
import { errorResult, type ToolBackend, type ToolGrant, type ToolOutcome } from './tool-backend.ts';
import { checkOptionKeys, type OptionKeys } from '../../option-keys.ts';

/** Options shared by every server of an `McpServerWrapper`. */
export interface McpServerWrapperOptions {
  /** Where the JSON-lines audit log goes (one line per tool call): a stream, a file path, or false (default) for none. */
  auditLog?: Writable | string | false;
}

/**
 * `stdio`: the process's stdin/stdout (then nothing else may write to stdout); `{ stdio: { input, output } }`:
 * other streams; `{ http: { host, port } }`: Streamable HTTP at `/mcp` (default 127.0.0.1, a free port).
 */
export type McpTransport = 'stdio' | {
  /** JSON-RPC messages over the given streams. */
  stdio: {
    /** Where client messages are read from. */
    input: Readable;
    /** Where server messages are written. */
    output: Writable;
  };
} | {
  /** Streamable HTTP at `/mcp`. */
  http: {
    /** Address to bind; default `127.0.0.1`. */
    host?: string;
    /** Port to bind; default 0, a free port (see `address`). */
    port?: number;
  };
};

/** A tool's own grant. Each field given replaces the server-wide one for that tool, whole. */
export interface McpToolPolicy {
  /** What this tool's guest may touch, instead of the server's `capabilities`. */
  capabilities?: Capabilities | CapabilitiesInit;
  /** What this tool's guest may consume, instead of the server's `resourceLimits`. */
  resourceLimits?: ResourceLimits | ResourceLimitsInit;
}

/**
 * One MCP server: the guest that provides the tools, the transport, and the policy each tool call runs under.
 */
export interface McpServerConfig {
  /**
   * Give exactly one. `path`: a `.wasm` file, a WASI MCP server or a component (told apart by content);
   * `module`: the bytes of a WASI MCP server (a core module); `component`: the bytes of a component.
   */
  path?: string;
  /** The bytes of a WASI MCP server (a core module speaking MCP on stdio). */
  module?: Uint8Array | ArrayBuffer;
  /** The bytes of a component whose exported functions become tools. */
  component?: Uint8Array | ArrayBuffer;
  /** Default `stdio`. */
  transport?: McpTransport;
  /** What each call's guest may touch. Default: nothing (`Capabilities.minimal()`); stdio is managed by the server. */
  capabilities?: Capabilities | CapabilitiesInit;
  /** Limits for each call's guest. Without a call deadline, calls get 30 s. */
  resourceLimits?: ResourceLimits | ResourceLimitsInit;
  /** Per-tool grants, by tool name; a name the guest does not list is an error. */
  tools?: Record<string, McpToolPolicy>;
  /** Tool calls running at once; more wait, up to 16 times this many, then get a "busy" error result. Default 4. */
  maxConcurrency?: number;
  /** The server name clients see; default from the file name. */
  name?: string;
  /** Components: where transpiled code is cached (see `ComponentRuntime`); false for memory only. */
  cacheDir?: string | false;
  /**
   * Bytes one incoming message may have (a stdio line, an HTTP request body); default 4 MiB. A larger
   * one is answered with a JSON-RPC error (Invalid Request; HTTP status 413) and the server keeps serving.
   */
  maxMessageBytes?: number;
}

/** A running MCP server, as `listServers` lists it. */
export interface McpServerSummary {
  /** The id `startServer` returned. */
  id: string;
  /** The server name clients see. */
  name: string;
  /** `wasi` for a core-module MCP server, `component` for a component's functions. */
  kind: 'wasi' | 'component';
  /** How clients reach it. */
  transport: 'stdio' | 'http';
  /** For http: where clients connect. */
  url?: string;
  /** Names of the tools it serves. */
  tools: string[];
  /** Component functions that are not served as tools, and why. */
  skipped: {
    /** The function's call path. */
    function: string;
    /** Why it is not a tool, e.g. a parameter type JSON cannot carry. */
    reason: string;
  }[];
  /** Tool calls answered so far. */
  calls: number;
  /** Tool calls running now. */
  inFlight: number;
}

interface RunningServer {
  id: string;
  name: string;
  backend: ToolBackend;
  grant: ToolGrant;
  toolGrants: ReadonlyMap<string, ToolGrant>;
  toolNames: ReadonlySet<string>;
  transport: 'stdio' | 'http';
  http: HttpServer | undefined;
  stdio: Server | undefined;
  maxConcurrency: number;
  inFlight: number;
  waiting: (() => void)[];
  calls: number;
  idle: (() => void) | undefined;
  stopping: boolean;
}

const DEFAULT_CALL_TIMEOUT_MS = 30_000;
const QUEUE_FACTOR = 16;
const MCP_PATH = '/mcp';
const VERSION = packageVersion();

/**
 * Every call has a deadline: a tool that never returns must not hold a slot forever. Each call runs
 * in a fresh instance, whose initialisation is part of the call and so within its deadline.
 */
function withDeadline(limits: ResourceLimits): ResourceLimits {
  const callTimeoutMs = limits.time.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const initTimeoutMs = Math.min(limits.time.initTimeoutMs ?? callTimeoutMs, callTimeoutMs);
  return limits.with({ time: { callTimeoutMs, initTimeoutMs } });
}

const MCP_SERVER_CONFIG: OptionKeys<McpServerConfig> = {
  path: true, module: true, component: true, transport: true, capabilities: true, resourceLimits: true, tools: true, maxConcurrency: true, name: true, cacheDir: true, maxMessageBytes: true,
};

/**
 * Serves sandboxed guests as Model Context Protocol servers, on stdio or Streamable HTTP, through the
 * official SDK's `Server`. Two kinds of guest:
 *
 *  - a WASI MCP server (newline-delimited JSON-RPC on stdin/stdout): its tool list is read once at
 *    start; every call runs in a fresh instance on a worker thread (see `WasiMcpGuest`);
 *  - a component: each exported function is a tool with a JSON Schema derived from its WIT types,
 *    every call in a fresh instance (see `ComponentTools`).
 *
 * Grants come only from the operator: the server-wide policy, or a tool's own from `tools`. Nothing a
 * client sends can change them, and the server adds no tools of its own. Every call, and every
 * refusal the sandbox reports during it, is written to the audit log.
 */
export class McpServerWrapper {
  private readonly servers = new Map<string, RunningServer>();
  private readonly audit: AuditLog;
  private next = 1;

  constructor(options: McpServerWrapperOptions = {}) {
    checkOptionKeys<McpServerWrapperOptions>('McpServerWrapper options', options, { auditLog: true });
    this.audit = new AuditLog(options.auditLog);
  }

  /**
   * Loads the guest, lists its tools and starts serving; resolves with the server's id. Rejects with
   * `InvalidArguments` (bad config, a `tools` entry the guest does not offer, an address that cannot be
   * bound), `ModuleNotFound`, `InvalidModule` or `InvalidPolicy`.
   */
  async startServer(config: McpServerConfig): Promise<string> {
    checkOptionKeys<McpServerConfig>('startServer config', config, MCP_SERVER_CONFIG);
    const given = [config.path, config.module, config.component].filter((v) => v !== undefined).length;
    if (given !== 1) throw new InvalidArguments('give exactly one of path, module or component');
    const maxConcurrency = config.maxConcurrency ?? 4;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw new InvalidArguments('maxConcurrency must be a positive integer');
    const maxMessageBytes = config.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) throw new InvalidArguments('maxMessageBytes must be a positive whole number of bytes');
    const transport = config.transport ?? 'stdio';
    if (transport !== 'stdio' && (typeof transport !== 'object' || transport === null || (!('http' in transport) && !('stdio' in transport)))) {
      throw new InvalidArguments("transport must be 'stdio', { stdio: { input, output } } or { http: { host, port } }");
    }
    const { bytes, kind } = await guestBytes(config);
    const grant: ToolGrant = {
      capabilities: Capabilities.from(config.capabilities),
      resourceLimits: withDeadline(ResourceLimits.from(config.resourceLimits)),
    };
    const toolGrants = new Map<string, ToolGrant>();
    for (const [tool, policy] of Object.entries(config.tools ?? {})) {
      if (policy === null || typeof policy !== 'object') throw new InvalidArguments(`tools.${tool} must be an object with capabilities and/or resourceLimits`);
      const unknown = Object.keys(policy).filter((k) => k !== 'capabilities' && k !== 'resourceLimits');
      if (unknown.length) throw new InvalidArguments(`tools.${tool}: unknown key '${unknown[0]}'; expected capabilities or resourceLimits`);
      toolGrants.set(tool, {
        capabilities: policy.capabilities === undefined ? grant.capabilities : Capabilities.from(policy.capabilities, { pathPrefix: `/tools/${tool}/capabilities` }),
        resourceLimits: policy.resourceLimits === undefined ? grant.resourceLimits : withDeadline(ResourceLimits.from(policy.resourceLimits, { pathPrefix: `/tools/${tool}/resourceLimits` })),
      });
    }
    const name = config.name ?? (config.path ? basename(config.path).replace(/\.wasm$/, '') : kind === 'component' ? 'component' : 'mcp-server');
    const programName = config.path ? basename(config.path) : `${name}.wasm`;

    // The SDK, ajv and the runtimes load on first use: importing the library should not pay for them.
    const backend: ToolBackend = kind === 'component'
      ? await (await importOptional(() => import('./component-tools.ts'))).ComponentTools.load({ bytes, grant, programName, cacheDir: config.cacheDir })
      : await (await importOptional(() => import('./wasi-guest.ts'))).WasiMcpGuest.load({ bytes, grant, programName, poolSize: Math.min(maxConcurrency, 4) });
    const toolNames = new Set(backend.tools.map((t) => t.name));
    const id = `mcp-${this.next++}`;
    const server: RunningServer = {
      id,
      name,
      backend,
      grant,
      toolGrants,
      toolNames,
      transport: typeof transport === 'object' && 'http' in transport ? 'http' : 'stdio',
      http: undefined,
      stdio: undefined,
      maxConcurrency,
      inFlight: 0,
      waiting: [],
      calls: 0,
      idle: undefined,
      stopping: false,
    };
    try {
      // A misspelt override would silently leave that tool on the server-wide grant.
      for (const tool of toolGrants.keys()) {
        if (!toolNames.has(tool)) throw new InvalidArguments(`tools.${tool}: the guest has no tool named '${tool}' (it has: ${[...toolNames].join(', ') || 'none'})`);
      }
      if (typeof transport === 'object' && 'http' in transport) {
        const h = transport.http ?? {};
        const { listenHttp } = await importOptional(() => import('./http-transport.ts'));
        server.http = await listenHttp({ host: h.host ?? '127.0.0.1', port: h.port ?? 0, path: MCP_PATH, handlers: this.handlers(server), maxMessageBytes });
      } else {
        const streams = typeof transport === 'object' ? transport.stdio : undefined;
        const { serveStdio } = await importOptional(() => import('./mcp-protocol.ts'));
        server.stdio = await serveStdio(this.handlers(server), maxMessageBytes, streams?.input, streams?.output);
      }
    } catch (err) {
      await backend.close();
      throw err;
    }
    this.servers.set(id, server);
    return id;
  }

  /** Where an HTTP server listens; clients connect to `url`. A stdio server or an unknown id is an `InvalidArguments`. */
  address(serverId: string): {
    /** The address it listens on. */
    host: string;
    /** The port it listens on. */
    port: number;
    /** `http://host:port/mcp`, where clients connect. */
    url: string;
  } {
    const s = this.get(serverId);
    if (!s.http) throw new InvalidArguments(`server '${serverId}' uses stdio; it has no address`);
    const a = s.http.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `http://${host}:${a.port}${MCP_PATH}` };
  }

  /** Every running server. */
  listServers(): McpServerSummary[] {
    return [...this.servers.values()].map((s) => ({
      id: s.id,
      name: s.name,
      kind: s.backend.kind,
      transport: s.transport,
      ...(s.http && { url: this.address(s.id).url }),
      tools: [...s.toolNames],
      skipped: [...(s.backend.skipped ?? [])],
      calls: s.calls,
      inFlight: s.inFlight,
    }));
  }

  /** Stops taking calls, lets the ones under way finish, then releases the guests. */
  async stopServer(serverId: string): Promise<void> {
    const s = this.get(serverId);
    this.servers.delete(serverId);
    s.stopping = true;
    for (const wake of s.waiting.splice(0)) wake();
    if (s.http) {
      const closed = new Promise<void>((resolve) => s.http!.close(() => resolve()));
      s.http.closeIdleConnections();
      if (s.inFlight > 0) await new Promise<void>((resolve) => (s.idle = resolve));
      s.http.closeAllConnections();
      await closed;
    } else {
      if (s.inFlight > 0) await new Promise<void>((resolve) => (s.idle = resolve));
      await s.stdio?.close();
    }
    await s.backend.close();
  }

  /** Stops every server as `stopServer` does and closes the audit log. */
  async close(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((id) => this.stopServer(id)));
    await this.audit.close();
  }

  private get(serverId: string): RunningServer {
    const s = this.servers.get(serverId);
    if (!s) throw new InvalidArguments(`no server with id '${String(serverId)}'`);
    return s;
  }

  private handlers(s: RunningServer): ToolHandlers {
    return { name: s.name, version: VERSION, tools: () => s.backend.tools, call: (tool, args, signal) => this.callTool(s, tool, args, signal) };
  }

  /** Undefined for an unknown tool (the protocol layer answers that with InvalidParams). */
  private async callTool(s: RunningServer, tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<CallToolResult | undefined> {
    const started = performance.now();
    const denials: Denial[] = [];
    const audit = (outcome: string, error?: string) => {
      this.audit.write({
        time: new Date().toISOString(),
        server: s.id,
        tool,
        argsDigest: argsDigest(args),
        outcome,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
        ...(error && { error }),
      }, denials);
    };
    s.calls++;
    if (!s.toolNames.has(tool)) {
      audit('unknown-tool');
      return undefined;
    }
    if (!(await this.acquire(s))) {
      audit('busy');
      return errorResult('The server is busy; try again shortly.');
    }
    let o: ToolOutcome;
    try {
      o = await s.backend.call(tool, args, s.toolGrants.get(tool) ?? s.grant, denials, signal);
    } catch (err) {
      // Guest failures are outcomes, not exceptions: this is the host's own fault, detailed for the operator only.
      o = { result: errorResult('The tool could not run.'), outcome: 'error', error: `INTERNAL:${err instanceof Error ? err.name : typeof err}` };
    } finally {
      this.release(s);
    }
    audit(o.outcome, o.error);
    return o.result;
  }

  /** A call slot; false when the server is saturated or stopping. */
  private async acquire(s: RunningServer): Promise<boolean> {
    if (s.stopping) return false;
    if (s.inFlight < s.maxConcurrency) {
      s.inFlight++;
      return true;
    }
    if (s.waiting.length >= s.maxConcurrency * QUEUE_FACTOR) return false;
    await new Promise<void>((resolve) => s.waiting.push(resolve));
    if (s.stopping) return false;
    s.inFlight++;
    return true;
  }

  private release(s: RunningServer): void {
    s.inFlight--;
    const next = s.waiting.shift();
    if (next) next();
    else if (s.inFlight === 0 && s.idle) s.idle();
  }
}

async function guestBytes(config: McpServerConfig): Promise<{ bytes: Uint8Array; kind: 'wasi' | 'component' }> {
  let bytes: Uint8Array;
  if (config.path !== undefined) {
    try {
      bytes = await process.getBuiltinModule('node:fs/promises').readFile(config.path);
    } catch (err) {
      throw new ModuleNotFound(config.path, `cannot read '${config.path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else {
    const given: unknown = config.module ?? config.component;
    if (!(given instanceof ArrayBuffer || ArrayBuffer.isView(given))) throw new InvalidArguments('module and component take a Uint8Array or ArrayBuffer');
    bytes = toBytes(given as Uint8Array);
  }
  const kind = isComponent(bytes) ? 'component' : 'wasi';
  if (config.module !== undefined && kind === 'component') throw new InvalidModule('this is a component; pass it as `component`');
  if (config.component !== undefined && kind !== 'component') throw new InvalidModule('this is a core module, not a component; pass it as `module`');
  if (kind === 'wasi') {
    const info = inspect(bytes);
    if (info.wasi !== 'preview1' || !info.exports.some((e) => e.name === '_start')) {
      throw new InvalidModule('an MCP server module must be a WASI preview1 command (exporting _start) that speaks JSON-RPC on stdin/stdout');
    }
  }
  return { bytes, kind };
}
