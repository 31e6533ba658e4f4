import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { basename } from 'node:path';
import type { Cluster } from 'node:cluster';
import type { Writable } from 'node:stream';
import { InvalidArguments, ModuleNotFound, ResourceLimitExceeded, Timeout, Trap, WasmSandboxError } from '../../errors.ts';
import { inspect } from '../../module/inspect.ts';
import { ComponentRuntime } from '../../component/component-runtime.ts';
import { Capabilities, type CapabilitiesInit } from '../../security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../../security/resource-limits.ts';
import { parseDuration, parseSize } from '../../security/units.ts';
import type { RuntimeKind } from '../../runtime/types.ts';
import { WasmSandbox } from '../../sandbox/wasm-sandbox.ts';
import { AccessLog } from './access-log.ts';
import { AdminServer, type AdminListen } from './admin-server.ts';
import { addressOf, listenOn } from './listen.ts';
import { PrometheusMetrics, promClient } from './prometheus-metrics.ts';
import { RequestBodyTooLarge, StreamedBody, type HttpBackend } from './backend.ts';
import { WagiBackend } from './wagi-backend.ts';
import { MalformedResponse } from './wagi.ts';
import { WasiHttpBackend } from './wasi-http-backend.ts';
import { WasiHttpWorkerBackend } from './wasi-http-worker-backend.ts';
import { checkOptionKeys, type OptionKeys } from '../../option-keys.ts';

/** Options shared by every server of an `HttpServerWrapper`. */
export interface HttpServerWrapperOptions {
  /** Where JSON-lines access logs go: a stream, a file path, or false (default) for none. */
  accessLog?: Writable | string | false;
  /**
   * Where the servers' rare operational messages go (one line each: for example that a guest's
   * instances stopped being reused); default stderr.
   */
  notice?: (message: string) => void;
}

/** How many guest instances a server keeps and runs at once. */
export interface PoolOptions {
  /**
   * Kept ready while idle: warm worker threads (a component's each hold an instance), or on the
   * inprocess runtime, reusable component instances. Default 2.
   */
  maxInstances?: number;
  /** Requests handled at once (and worker threads at most); beyond it the server answers 503 with Retry-After. Default 16. */
  maxConcurrency?: number;
  /**
   * Components: serve later requests with an instance that answered cleanly (default true). When a
   * reused instance traps on its second request where its first did not, and no instance has yet
   * answered two (a guest that serves one request per instance, such as a JavaScript `fetch` event
   * listener), that server stops reusing instances and says so once through `notice`; the failed
   * request is answered 500, never replayed. WAGI guests run once per request.
   */
  reuse?: boolean;
}

/** One server: the guest that answers, where it listens, and the policy every request runs under. */
export interface HttpServerConfig {
  /**
   * Give exactly one: a `.wasm` file (either kind), the bytes of a core module (a WAGI command), or the
   * bytes of a component exporting `wasi:http/incoming-handler`.
   */
  path?: string;
  /** The bytes of a core module, run once per request as a WAGI (CGI-style) command. */
  module?: Uint8Array | ArrayBuffer;
  /** The bytes of a component exporting `wasi:http/incoming-handler`. */
  component?: Uint8Array | ArrayBuffer;
  /** Where to listen. */
  listen?: {
    /** Address to bind; default `127.0.0.1`. */
    host?: string;
    /** Port to bind; default 0, a free port (see `address`). */
    port?: number;
  };
  /** What every request's guest may touch; env, args and stdio are managed by the server. */
  capabilities?: Capabilities | CapabilitiesInit;
  /**
   * What every request's guest may consume; default `ResourceLimits.default()`, with `requestTimeoutMs` as
   * its deadline.
   */
  resourceLimits?: ResourceLimits | ResourceLimitsInit;
  /** Instance reuse and concurrency. */
  pool?: PoolOptions;
  /** Largest request body accepted (413 beyond it). Default 1 MiB. */
  maxRequestBodyBytes?: number | string;
  /** Deadline for one request's guest (504 beyond it). Default 10 s. */
  requestTimeoutMs?: number | string;
  /**
   * `worker` (default): each request's guest runs on a worker thread, with both bodies streamed and a
   * hard stop at the deadline (the thread is terminated) while other threads go on serving.
   * `inprocess`: on the server's thread, where a guest cannot wait for the network, so a component's
   * request and response bodies are whole, and a request that loops holds every other one up until
   * its deadline stops it.
   */
  runtime?: RuntimeKind;
  /** Components: where transpiled output is cached (see ComponentRuntime). */
  cacheDir?: string;
  /**
   * An operations listener of its own (keep it off the public network): `/metrics` in the Prometheus
   * text format, `/healthz`, and `/readyz`, which answers 503 while the server is saturated or
   * draining. Nothing on it is routed to the guest. See `adminAddress()` and docs/deploy.md.
   */
  admin?: AdminListen;
  /** The `guest` label of the metrics; default the file's base name, else `component` or `module`. */
  name?: string;
  /**
   * @internal In a cluster worker: keep the Prometheus metrics for the primary's AggregatorRegistry,
   * which serves them for every worker, instead of listening for them here.
   */
  clusterMetrics?: boolean;
}

/** Counters of one server since it started. */
export interface ServerMetrics {
  /** Requests answered. */
  requests: number;
  /** Requests being handled now. */
  inFlight: number;
  /** Requests answered, by HTTP status code. */
  byStatus: Record<string, number>;
  /**
   * Requests answered, by outcome (`ok`, `trap`, `timeout`, `limit`, `overloaded`, `too-large`,
   * `bad-response`, `error`; see `AccessLogEntry.outcome`).
   */
  byOutcome: Record<string, number>;
  /** Request body bytes received. */
  bytesIn: number;
  /** Response body bytes sent. */
  bytesOut: number;
  /** Time spent on all answered requests together, in ms; divide by `requests` for the mean. */
  totalDurationMs: number;
}

/** A running server, as `listServers` lists it. */
export interface ServerSummary {
  /** The id `startServer` returned. */
  id: string;
  /** Where it listens. */
  address: {
    /** The address it listens on, e.g. `127.0.0.1`. */
    host: string;
    /** The port it listens on (the real one when 0 was asked for). */
    port: number;
    /** `http://host:port` (IPv6 hosts in brackets), ready to request. */
    url: string;
  };
  /** `wagi` for a core module, `wasi-http` for a component. */
  kind: HttpBackend['kind'];
  /** Its counters now. */
  metrics: ServerMetrics;
}

interface RunningServer {
  id: string;
  http: Server;
  backend: HttpBackend;
  maxBody: number;
  maxConcurrency: number;
  metrics: ServerMetrics;
  idle: Promise<void> | undefined;
  wakeIdle: (() => void) | undefined;
  stopping: boolean;
  prometheus: PrometheusMetrics | undefined;
  admin: AdminServer | undefined;
}

const GENERIC: Record<number, string> = {
  413: 'Payload Too Large\n',
  500: 'Internal Server Error\n',
  502: 'Bad Gateway\n',
  503: 'Service Unavailable\n',
  504: 'Gateway Timeout\n',
};

const HTTP_SERVER_CONFIG: OptionKeys<HttpServerConfig> = {
  path: true, module: true, component: true, listen: true, capabilities: true, resourceLimits: true, pool: true, maxRequestBodyBytes: true,
  requestTimeoutMs: true, runtime: true, cacheDir: true, admin: true, name: true, clusterMetrics: true,
};

/**
 * Serves sandboxed HTTP apps. Every request runs in its own guest instance with its own deadline, fuel
 * and memory, so one request that traps or spins never affects another. Failures map to statuses with a
 * generic body (trap → 500, deadline → 504, limit → 503, malformed response → 502); details go to the
 * access log only.
 */
export class HttpServerWrapper {
  private readonly servers = new Map<string, RunningServer>();
  private readonly log: AccessLog;
  private readonly notice: (message: string) => void;
  private next = 1;

  constructor(options: HttpServerWrapperOptions = {}) {
    checkOptionKeys<HttpServerWrapperOptions>('HttpServerWrapper options', options, { accessLog: true, notice: true });
    this.log = new AccessLog(options.accessLog);
    this.notice = options.notice ?? ((message) => void process.stderr.write(`wasm-sandbox: ${message}\n`));
  }

  /**
   * Loads the guest, starts listening and resolves with the server's id once it accepts connections. Rejects
   * with `InvalidArguments` (bad config, or the address cannot be bound), `ModuleNotFound` (unreadable
   * `path`), `InvalidModule`, or `InvalidPolicy`.
   */
  async startServer(config: HttpServerConfig): Promise<string> {
    checkOptionKeys<HttpServerConfig>('startServer config', config, HTTP_SERVER_CONFIG);
    if (config.pool !== undefined) checkOptionKeys<PoolOptions>('startServer config.pool', config.pool, { maxInstances: true, maxConcurrency: true, reuse: true });
    const given = [config.path, config.module, config.component].filter((v) => v !== undefined).length;
    if (given !== 1) throw new InvalidArguments('give exactly one of path, module or component');
    let bytes: Uint8Array;
    if (config.path !== undefined) {
      try {
        bytes = await process.getBuiltinModule('node:fs/promises').readFile(config.path);
      } catch (err) {
        throw new ModuleNotFound(config.path, `cannot read '${config.path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    } else {
      const b = (config.module ?? config.component)!;
      bytes = b instanceof Uint8Array ? b : new Uint8Array(b);
    }
    const info = inspect(bytes);
    if (config.component !== undefined && info.kind !== 'component') throw new InvalidArguments('`component` must be the bytes of a component');
    if (config.module !== undefined && info.kind !== 'core') throw new InvalidArguments('`module` must be the bytes of a core module; pass a component as `component`');
    const pool = config.pool ?? {};
    const maxConcurrency = pool.maxConcurrency ?? 16;
    const maxInstances = pool.maxInstances ?? 2;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw new InvalidArguments('pool.maxConcurrency must be a positive integer');
    if (!Number.isInteger(maxInstances) || maxInstances < 0) throw new InvalidArguments('pool.maxInstances must be a non-negative integer');
    const requestTimeoutMs = parseDuration(config.requestTimeoutMs ?? 10_000, 'requestTimeoutMs');
    const maxBody = parseSize(config.maxRequestBodyBytes ?? 1024 * 1024, 'maxRequestBodyBytes');
    const capabilities = Capabilities.from(config.capabilities);
    // An instance made for a request is made within that request's deadline.
    const resourceLimits = ResourceLimits.from(config.resourceLimits).with({ time: { callTimeoutMs: requestTimeoutMs, initTimeoutMs: requestTimeoutMs } });
    const runtime = config.runtime ?? 'worker';
    if (runtime !== 'worker' && runtime !== 'inprocess') throw new InvalidArguments(`runtime must be 'worker' or 'inprocess', got ${String(runtime)}`);
    const guest = config.name ?? (config.path !== undefined ? basename(config.path) : info.kind === 'component' ? 'component' : 'module');
    const notice = (message: string) => this.notice(`${guest}: ${message}`);
    const backend = info.kind === 'component'
      ? await wasiHttpBackend(bytes, capabilities, resourceLimits, runtime, { reuse: pool.reuse ?? true, maxInstances, maxConcurrency, notice }, config.cacheDir)
      : await wagiBackend(bytes, info, capabilities, resourceLimits, runtime, maxInstances);
    const id = `server-${this.next++}`;
    const server: RunningServer = {
      id,
      // Taken when a server starts: importing the library should not load node:http (its ESM facade loads undici).
      http: process.getBuiltinModule('node:http').createServer(),
      backend,
      maxBody,
      maxConcurrency,
      metrics: { requests: 0, inFlight: 0, byStatus: {}, byOutcome: {}, bytesIn: 0, bytesOut: 0, totalDurationMs: 0 },
      idle: undefined,
      wakeIdle: undefined,
      stopping: false,
      prometheus: undefined,
      admin: undefined,
    };
    try {
      if (config.admin !== undefined || config.clusterMetrics) {
        server.prometheus = await PrometheusMetrics.create(guest, {
          inFlight: () => server.metrics.inFlight,
          maxConcurrency,
          instances: () => backend.instances(),
        });
        backend.onViolation = (capability) => server.prometheus?.violation(capability);
      }
      if (config.clusterMetrics && cluster().isWorker) {
        const { AggregatorRegistry } = await promClient();
        AggregatorRegistry.setRegistries([server.prometheus!.registry]);
        // Constructing one is what makes this worker answer the primary's requests for metrics.
        new AggregatorRegistry();
      }
      server.http.on('request', (req, res) => void this.handle(server, req, res));
      await listenOn(server.http, config.listen ?? {}, '');
      if (config.admin !== undefined) {
        const metrics = server.prometheus!;
        server.admin = await AdminServer.start(config.admin, {
          metrics: async () => {
            backend.flushViolations?.();
            return { contentType: metrics.contentType, text: await metrics.text() };
          },
          notReady: () => this.notReady(server),
        });
      }
    } catch (err) {
      server.http.close();
      await backend.close();
      throw err;
    }
    this.servers.set(id, server);
    return id;
  }

  /** Where the server listens; `InvalidArguments` for an unknown id. */
  address(serverId: string): {
    /** The address it listens on, e.g. `127.0.0.1`. */
    host: string;
    /** The port it listens on (the real one when 0 was asked for). */
    port: number;
    /** `http://host:port` (IPv6 hosts in brackets), ready to request. */
    url: string;
  } {
    return addressOf(this.get(serverId).http);
  }

  /** Where the server's operations endpoints listen (`admin` in its config); `InvalidArguments` without one. */
  adminAddress(serverId: string): {
    /** The address it listens on. */
    host: string;
    /** The port it listens on. */
    port: number;
    /** `http://host:port`, ready to request `/metrics`, `/healthz` or `/readyz`. */
    url: string;
  } {
    const admin = this.get(serverId).admin;
    if (!admin) throw new InvalidArguments(`server '${serverId}' has no admin listener (start it with \`admin\`)`);
    return admin.address();
  }

  /** Why `/readyz` answers 503 now, or undefined when the server can take traffic. */
  private notReady(server: RunningServer): string | undefined {
    if (server.stopping) return 'draining';
    if (server.metrics.inFlight >= server.maxConcurrency) return 'saturated';
    return undefined;
  }

  /** A copy of the server's counters; `InvalidArguments` for an unknown id. */
  metrics(serverId: string): ServerMetrics {
    return structuredClone(this.get(serverId).metrics);
  }

  /** Every running server. */
  listServers(): ServerSummary[] {
    return [...this.servers.values()].map((s) => ({ id: s.id, address: this.address(s.id), kind: s.backend.kind, metrics: structuredClone(s.metrics) }));
  }

  /**
   * Drains the server: it stops accepting connections and `/readyz` answers 503, requests already
   * in flight finish (each within its own deadline), as do requests that arrive meanwhile on
   * connections already open (answered with `connection: close`); then the guests are released.
   */
  async stopServer(serverId: string): Promise<void> {
    const server = this.get(serverId);
    this.servers.delete(serverId);
    server.stopping = true;
    const closed = new Promise<void>((resolve) => server.http.close(() => resolve()));
    server.http.closeIdleConnections();
    if (server.metrics.inFlight > 0) {
      server.idle ??= new Promise<void>((resolve) => (server.wakeIdle = resolve));
      await server.idle;
    }
    server.http.closeAllConnections();
    await closed;
    await server.admin?.close();
    await server.backend.close();
  }

  /** Stops every server as `stopServer` does and closes the access log. */
  async close(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((id) => this.stopServer(id)));
    await this.log.close();
  }

  private get(serverId: string): RunningServer {
    const s = this.servers.get(serverId);
    if (!s) throw new InvalidArguments(`no server with id '${String(serverId)}'`);
    return s;
  }

  private async handle(server: RunningServer, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const m = server.metrics;
    m.requests++;
    let outcome = 'ok';
    let failure: unknown;
    let bytesIn = 0;
    let bytesOut = 0;
    const fail = (status: number, why: string, extra: Record<string, string> = {}) => {
      outcome = why;
      if (res.headersSent) {
        // Too late for a status: cut the response so the client sees it incomplete rather than whole.
        // One that went out whole before the failure (a guest that fails after finishing its answer) stands.
        if (!res.writableEnded) res.destroy();
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extra });
      res.end(GENERIC[status] ?? 'Error\n');
    };
    if (m.inFlight >= server.maxConcurrency) {
      fail(503, 'overloaded', { 'retry-after': '1' });
      req.resume();
      this.finish(server, req, res, started, outcome, undefined, 0, 0);
      return;
    }
    // Draining: this one is served, and its connection ends with it.
    if (server.stopping) res.shouldKeepAlive = false;
    m.inFlight++;
    let streamed: StreamedBody | undefined;
    try {
      if (declaredTooLarge(req, server.maxBody)) {
        req.resume();
        fail(413, 'too-large', { connection: 'close' });
        return;
      }
      // Most requests have no body; not awaiting one then spares a turn of the event loop.
      let body: Uint8Array | StreamedBody | undefined = EMPTY;
      if (hasBody(req)) body = server.backend.streamsRequestBody ? (streamed = new StreamedBody(req, server.maxBody)) : await readBody(req, server.maxBody);
      if (body === undefined) {
        fail(413, 'too-large', { connection: 'close' });
        return;
      }
      if (body instanceof Uint8Array) bytesIn = body.length;
      bytesOut = await server.backend.serve(req, res, body);
    } catch (err) {
      failure = err;
      if (err instanceof RequestBodyTooLarge) {
        req.resume();
        fail(413, 'too-large', { connection: 'close' });
      } else if (err instanceof MalformedResponse) fail(502, 'bad-response');
      else if (err instanceof Timeout) fail(504, 'timeout');
      else if (err instanceof ResourceLimitExceeded) fail(503, 'limit');
      else if (err instanceof Trap) fail(500, 'trap');
      else fail(500, 'error');
    } finally {
      if (streamed) bytesIn = streamed.received;
      m.inFlight--;
      this.finish(server, req, res, started, outcome, failure, bytesIn, bytesOut);
      if (m.inFlight === 0 && server.wakeIdle) server.wakeIdle();
    }
  }

  private finish(server: RunningServer, req: IncomingMessage, res: ServerResponse, started: number, outcome: string, failure: unknown, bytesIn: number, bytesOut: number): void {
    const m = server.metrics;
    const durationMs = performance.now() - started;
    const status = res.statusCode;
    m.byStatus[status] = (m.byStatus[status] ?? 0) + 1;
    m.byOutcome[outcome] = (m.byOutcome[outcome] ?? 0) + 1;
    m.bytesIn += bytesIn;
    m.bytesOut += bytesOut;
    m.totalDurationMs += durationMs;
    server.prometheus?.request(status, outcome, durationMs / 1000, failure);
    if (!this.log.enabled) return;
    const error = failure instanceof WasmSandboxError ? failure.code : failure instanceof MalformedResponse ? 'MALFORMED_RESPONSE'
      : failure === undefined || failure instanceof RequestBodyTooLarge ? undefined : 'INTERNAL';
    this.log.write({
      time: new Date().toISOString(),
      server: server.id,
      pid: process.pid,
      ...(clusterWorker() !== undefined && { worker: clusterWorker() }),
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0],
      status,
      durationMs: Math.round(durationMs * 1000) / 1000,
      bytesIn,
      bytesOut,
      outcome,
      ...(error && { error }),
    });
  }
}

async function wagiBackend(bytes: Uint8Array, info: ReturnType<typeof inspect>, capabilities: Capabilities, limits: ResourceLimits, runtime: RuntimeKind, maxInstances: number): Promise<HttpBackend> {
  if (info.wasi !== 'preview1' || !info.exports.some((e) => e.name === '_start')) {
    throw new InvalidArguments('a core module must be a WASI preview1 command following the WAGI convention (exporting _start); components must export wasi:http/incoming-handler');
  }
  const sandbox = await WasmSandbox.create({ runtime, workerPoolSize: maxInstances });
  try {
    return new WagiBackend(sandbox, await sandbox.loadModule(bytes), capabilities, limits, runtime);
  } catch (err) {
    await sandbox.close();
    throw err;
  }
}

async function wasiHttpBackend(
  bytes: Uint8Array, capabilities: Capabilities, limits: ResourceLimits, kind: RuntimeKind, pool: { reuse: boolean; maxInstances: number; maxConcurrency: number; notice: (message: string) => void },
  cacheDir: string | undefined,
): Promise<HttpBackend> {
  const runtime = await ComponentRuntime.create(capabilities, limits, { cacheDir });
  try {
    const component = await runtime.createComponentModule(bytes);
    if (!component.exportNames.some((n) => n.replace(/@[^@/]*$/, '') === 'wasi:http/incoming-handler')) {
      throw new InvalidArguments('the component does not export wasi:http/incoming-handler');
    }
    if (kind === 'inprocess') return new WasiHttpBackend(runtime, component, capabilities, limits, { reuse: pool.reuse, maxIdle: pool.maxInstances, notice: pool.notice });
    // The threads receive the component prepared here; this runtime has no instances to keep.
    const backend = await WasiHttpWorkerBackend.create(component, capabilities, limits, { reuse: pool.reuse, warm: pool.maxInstances, max: pool.maxConcurrency, notice: pool.notice });
    runtime.close();
    return backend;
  } catch (err) {
    runtime.close();
    throw err;
  }
}

const EMPTY = new Uint8Array(0);
/**
 * Which cluster worker this process is, for the access log of a server run with `--workers N`; read
 * when first logged, since node:cluster is not loaded with the library.
 */
let workerId: { id: number | undefined } | undefined;
const clusterWorker = (): number | undefined => (workerId ??= { id: cluster().worker?.id }).id;
const cluster = (): Cluster => process.getBuiltinModule('node:cluster') as unknown as Cluster;

/**
 * Without a length or chunked framing an HTTP/1.1 request has no body, and Node discards whatever a
 * handler leaves unread, so there is nothing to wait for.
 */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/** A declared length over the limit is refused before any of the body is read. */
function declaredTooLarge(req: IncomingMessage, max: number): boolean {
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared > max;
}

/** The whole body, or undefined once it passes `max` bytes (the rest is drained, not stored). */
async function readBody(req: IncomingMessage, max: number): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop early must not destroy the request: that would take the socket, and the 413, with it.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
