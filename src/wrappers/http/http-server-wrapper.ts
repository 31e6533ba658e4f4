import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { InvalidArguments, ModuleNotFound, ResourceLimitExceeded, Timeout, Trap, WasmSandboxError } from '../../errors.ts';
import { inspect } from '../../module/inspect.ts';
import { Capabilities, type CapabilitiesInit } from '../../security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../../security/resource-limits.ts';
import { parseDuration, parseSize } from '../../security/units.ts';
import type { RuntimeKind } from '../../runtime/types.ts';
import { WasmSandbox } from '../../sandbox/wasm-sandbox.ts';
import { AccessLog } from './access-log.ts';
import { CgiResponseParser, MalformedResponse, cgiEnvironment, type ParsedHead } from './wagi.ts';

export interface HttpServerWrapperOptions {
  /** Where JSON-lines access logs go: a stream, a file path, or false (default) for none. */
  accessLog?: Writable | string | false;
}

export interface PoolOptions {
  /** Warm guest threads kept ready (worker runtime). Default 2. */
  maxInstances?: number;
  /** Requests handled at once; beyond it the server answers 503 with Retry-After. Default 16. */
  maxConcurrency?: number;
  /** Reuse an instance across requests where the guest allows it (components); WAGI guests run once per request. */
  reuse?: boolean;
}

export interface HttpServerConfig {
  /** A `.wasm` file, or the bytes of a core module (WAGI) — give exactly one. */
  path?: string;
  module?: Uint8Array | ArrayBuffer;
  listen?: { host?: string; port?: number };
  /** What every request's guest may touch; env, args and stdio are managed by the server. */
  capabilities?: Capabilities | CapabilitiesInit;
  resourceLimits?: ResourceLimits | ResourceLimitsInit;
  pool?: PoolOptions;
  /** Largest request body accepted (413 beyond it). Default 1 MiB. */
  maxRequestBodyBytes?: number | string;
  /** Deadline for one request's guest (504 beyond it). Default 10 s. */
  requestTimeoutMs?: number | string;
  /** `worker` (default): each request's guest on a worker thread. `inprocess`: on the server's thread, fastest. */
  runtime?: RuntimeKind;
}

export interface ServerMetrics {
  requests: number;
  inFlight: number;
  byStatus: Record<string, number>;
  byOutcome: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  totalDurationMs: number;
}

export interface ServerSummary {
  id: string;
  address: { host: string; port: number; url: string };
  kind: 'wagi';
  metrics: ServerMetrics;
}

interface RunningServer {
  id: string;
  http: Server;
  sandbox: WasmSandbox;
  moduleId: string;
  capabilities: Capabilities;
  resourceLimits: ResourceLimits;
  maxBody: number;
  maxConcurrency: number;
  metrics: ServerMetrics;
  idle: Promise<void> | undefined;
  wakeIdle: (() => void) | undefined;
  stopping: boolean;
}

const GENERIC: Record<number, string> = {
  413: 'Payload Too Large\n',
  500: 'Internal Server Error\n',
  502: 'Bad Gateway\n',
  503: 'Service Unavailable\n',
  504: 'Gateway Timeout\n',
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
  private next = 1;

  constructor(options: HttpServerWrapperOptions = {}) {
    this.log = new AccessLog(options.accessLog);
  }

  async startServer(config: HttpServerConfig): Promise<string> {
    if (config === null || typeof config !== 'object') throw new InvalidArguments('startServer expects a config object');
    if ((config.path === undefined) === (config.module === undefined)) throw new InvalidArguments('give exactly one of path or module');
    let bytes: Uint8Array;
    if (config.path !== undefined) {
      try {
        bytes = await readFile(config.path);
      } catch (err) {
        throw new ModuleNotFound(config.path, `cannot read '${config.path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    } else {
      bytes = config.module instanceof Uint8Array ? config.module : new Uint8Array(config.module as ArrayBuffer);
    }
    const info = inspect(bytes);
    if (info.kind !== 'core' || info.wasi !== 'preview1' || !info.exports.some((e) => e.name === '_start')) {
      throw new InvalidArguments('the HTTP server runs WASI preview1 commands following the WAGI convention (a module exporting _start)');
    }
    const pool = config.pool ?? {};
    const maxConcurrency = pool.maxConcurrency ?? 16;
    const maxInstances = pool.maxInstances ?? 2;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw new InvalidArguments('pool.maxConcurrency must be a positive integer');
    if (!Number.isInteger(maxInstances) || maxInstances < 0) throw new InvalidArguments('pool.maxInstances must be a non-negative integer');
    const requestTimeoutMs = parseDuration(config.requestTimeoutMs ?? 10_000, 'requestTimeoutMs');
    const maxBody = parseSize(config.maxRequestBodyBytes ?? 1024 * 1024, 'maxRequestBodyBytes');
    const baseCaps = Capabilities.from(config.capabilities);
    const resourceLimits = ResourceLimits.from(config.resourceLimits).with({ time: { callTimeoutMs: requestTimeoutMs } });

    const sandbox = await WasmSandbox.create({ runtime: config.runtime ?? 'worker', workerPoolSize: maxInstances });
    let moduleId: string;
    try {
      moduleId = await sandbox.loadModule(bytes);
    } catch (err) {
      await sandbox.close();
      throw err;
    }
    const id = `server-${this.next++}`;
    const server: RunningServer = {
      id,
      http: createServer(),
      sandbox,
      moduleId,
      // The guest's stdio belongs to the protocol: stdin is the body, stdout the response.
      capabilities: baseCaps.with({ stdio: { stdin: 'capture', stdout: 'null', stderr: baseCaps.stdio.stderr } }),
      resourceLimits,
      maxBody,
      maxConcurrency,
      metrics: { requests: 0, inFlight: 0, byStatus: {}, byOutcome: {}, bytesIn: 0, bytesOut: 0, totalDurationMs: 0 },
      idle: undefined,
      wakeIdle: undefined,
      stopping: false,
    };
    server.http.on('request', (req, res) => void this.handle(server, req, res));
    const listen = config.listen ?? {};
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject);
      server.http.listen(listen.port ?? 0, listen.host ?? '127.0.0.1', () => {
        server.http.off('error', reject);
        resolve();
      });
    }).catch(async (err) => {
      await sandbox.close();
      throw new InvalidArguments(`cannot listen on ${listen.host ?? '127.0.0.1'}:${listen.port ?? 0}: ${(err as Error).message}`);
    });
    this.servers.set(id, server);
    return id;
  }

  address(serverId: string): { host: string; port: number; url: string } {
    const a = this.get(serverId).http.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `http://${host}:${a.port}` };
  }

  metrics(serverId: string): ServerMetrics {
    return structuredClone(this.get(serverId).metrics);
  }

  listServers(): ServerSummary[] {
    return [...this.servers.values()].map((s) => ({ id: s.id, address: this.address(s.id), kind: 'wagi', metrics: structuredClone(s.metrics) }));
  }

  /** Stops accepting connections, lets requests in flight finish, then releases the guests. */
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
    await server.sandbox.close();
  }

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
    let errorCode: string | undefined;
    let bytesIn = 0;
    let bytesOut = 0;
    const fail = (status: number, why: string, extra: Record<string, string> = {}) => {
      outcome = why;
      if (res.headersSent) {
        // Too late for a status: cut the response so the client sees it incomplete rather than whole.
        res.destroy();
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extra });
      res.end(GENERIC[status] ?? 'Error\n');
    };
    if (m.inFlight >= server.maxConcurrency || server.stopping) {
      fail(503, 'overloaded', { 'retry-after': '1' });
      req.resume();
      this.finish(server, req, res, started, outcome, undefined, 0, 0);
      return;
    }
    m.inFlight++;
    try {
      const body = await readBody(req, server.maxBody);
      if (body === undefined) {
        fail(413, 'too-large', { connection: 'close' });
        return;
      }
      bytesIn = body.length;
      const socket = req.socket;
      const env = cgiEnvironment(req, {
        serverName: socket.localAddress ?? '127.0.0.1',
        serverPort: socket.localPort ?? 0,
        remoteAddr: socket.remoteAddress ?? '',
        bodyLength: body.length,
        route: '/',
      });
      const caps = server.capabilities.with({ env: { inherit: server.capabilities.env.inherit, set: { ...server.capabilities.env.set, ...env } } });
      const parser = new CgiResponseParser();
      let malformed: MalformedResponse | undefined;
      const onHead = (head: ParsedHead) => {
        res.writeHead(head.status, head.headers.flat());
      };
      const onStdout = (chunk: Uint8Array) => {
        if (malformed || res.destroyed) return;
        try {
          const { head, body: rest } = parser.push(chunk);
          if (head) onHead(head);
          // Chunks may be views of guest memory that the guest reuses: the response keeps a copy.
          if (rest && rest.length) {
            bytesOut += rest.length;
            res.write(Buffer.from(rest));
          }
        } catch (err) {
          if (err instanceof MalformedResponse) malformed = err;
          else throw err;
        }
      };
      const instanceId = await server.sandbox.createInstance(server.moduleId, {
        capabilities: caps,
        resourceLimits: server.resourceLimits,
        wasi: { stdin: body, onStdout, programName: 'app.wasm' },
      });
      try {
        await server.sandbox.runCommand(instanceId);
      } finally {
        await server.sandbox.destroyInstance(instanceId).catch(() => {});
      }
      if (malformed || !parser.complete) {
        errorCode = malformed ? 'MALFORMED_RESPONSE' : 'NO_RESPONSE_HEAD';
        fail(502, 'bad-response');
        return;
      }
      res.end();
    } catch (err) {
      errorCode = err instanceof WasmSandboxError ? err.code : 'INTERNAL';
      if (err instanceof Timeout) fail(504, 'timeout');
      else if (err instanceof ResourceLimitExceeded) fail(503, 'limit');
      else if (err instanceof Trap) fail(500, 'trap');
      else fail(500, 'error');
    } finally {
      m.inFlight--;
      this.finish(server, req, res, started, outcome, errorCode, bytesIn, bytesOut);
      if (m.inFlight === 0 && server.wakeIdle) server.wakeIdle();
    }
  }

  private finish(server: RunningServer, req: IncomingMessage, res: ServerResponse, started: number, outcome: string, error: string | undefined, bytesIn: number, bytesOut: number): void {
    const m = server.metrics;
    const durationMs = performance.now() - started;
    const status = res.statusCode;
    m.byStatus[status] = (m.byStatus[status] ?? 0) + 1;
    m.byOutcome[outcome] = (m.byOutcome[outcome] ?? 0) + 1;
    m.bytesIn += bytesIn;
    m.bytesOut += bytesOut;
    m.totalDurationMs += durationMs;
    this.log.write({
      time: new Date().toISOString(),
      server: server.id,
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

/** The whole body, or undefined once it passes `max` bytes (the rest is drained, not stored). */
async function readBody(req: IncomingMessage, max: number): Promise<Uint8Array | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
