import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import type { WasmSandbox } from '../../sandbox/wasm-sandbox.ts';
import type { RuntimeKind } from '../../runtime/types.ts';
import { RequestBodyTooLarge, StreamedBody, type HttpBackend } from './backend.ts';
import { CgiResponseParser, MalformedResponse, cgiEnvironment } from './wagi.ts';

/** Body bytes held back before they are sent while the guest still runs. */
const HOLD_BYTES = 64 * 1024;

/**
 * The guest's response as the client gets it. A head and body written piecemeal cost a socket write
 * each and a chunked body: output is held until the guest ends (then sent with its length, in one
 * write), until HOLD_BYTES pile up, or until the event loop turns while the guest still runs (a guest
 * on a worker thread, which may stream for as long as it likes).
 */
class BatchedResponse {
  bytes = 0;
  private readonly res: ServerResponse;
  private status = 0;
  private headers: [string, string][] = [];
  private held: Buffer[] = [];
  private heldBytes = 0;
  private started = false;
  private flushing: NodeJS.Immediate | undefined;

  constructor(res: ServerResponse) {
    this.res = res;
  }

  head(status: number, headers: [string, string][]): void {
    this.status = status;
    this.headers = headers;
    this.schedule();
  }

  write(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    // Chunks may be views of guest memory that the guest reuses: the response keeps a copy.
    this.held.push(Buffer.from(chunk));
    this.heldBytes += chunk.length;
    if (this.heldBytes >= HOLD_BYTES) this.flush();
    else this.schedule();
  }

  end(): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    if (this.res.destroyed) return;
    const body = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held, this.heldBytes);
    if (!this.started) {
      const headers = this.headers.flat();
      if (!this.headers.some(([name]) => name.toLowerCase() === 'content-length')) headers.push('content-length', String(body.length));
      this.res.writeHead(this.status, headers);
    }
    this.res.end(body);
  }

  private schedule(): void {
    this.flushing ??= setImmediate(() => {
      this.flushing = undefined;
      this.flush();
    });
  }

  private flush(): void {
    if (this.res.destroyed || this.status === 0) return;
    if (!this.started) {
      this.started = true;
      this.res.writeHead(this.status, this.headers.flat());
    }
    for (const chunk of this.held) this.res.write(chunk);
    this.held = [];
    this.heldBytes = 0;
  }
}

/**
 * WASI preview1 commands following the WAGI convention; every request runs `_start` in a pristine
 * instance (on the in-process runtime a recycled one, reset to its state after instantiation), and the response streams to the client as the guest writes it (batched, see BatchedResponse). On the worker runtime the
 * request body streams too: the guest's stdin reads wait for the client's next bytes.
 */
export class WagiBackend implements HttpBackend {
  readonly kind = 'wagi' as const;
  readonly streamsRequestBody: boolean;
  private readonly sandbox: WasmSandbox;
  private readonly moduleId: string;
  private readonly capabilities: Capabilities;
  private readonly resourceLimits: ResourceLimits;
  private running = 0;
  onViolation: ((capability: string) => void) | undefined;

  constructor(sandbox: WasmSandbox, moduleId: string, capabilities: Capabilities, resourceLimits: ResourceLimits, runtime: RuntimeKind) {
    this.sandbox = sandbox;
    // A guest on the server's own thread could not wait for bytes its event loop has yet to receive.
    this.streamsRequestBody = runtime === 'worker';
    this.moduleId = moduleId;
    // The guest's stdio belongs to the protocol: stdin is the body, stdout the response.
    this.capabilities = capabilities.with({ stdio: { stdin: 'capture', stdout: 'null', stderr: capabilities.stdio.stderr } });
    this.resourceLimits = resourceLimits;
    sandbox.on('violation', ({ capability }: { capability: string }) => this.onViolation?.(capability));
  }

  instances(): number {
    return this.running;
  }

  async serve(req: IncomingMessage, res: ServerResponse, body: Uint8Array | StreamedBody): Promise<number> {
    const socket = req.socket;
    const env = cgiEnvironment(req, {
      serverName: socket.localAddress ?? '127.0.0.1',
      serverPort: socket.localPort ?? 0,
      remoteAddr: socket.remoteAddress ?? '',
      bodyLength: body instanceof StreamedBody ? body.declaredLength : body.length,
      route: '/',
    });
    const caps = this.capabilities.with({ env: { inherit: this.capabilities.env.inherit, set: { ...this.capabilities.env.set, ...env } } });
    const parser = new CgiResponseParser();
    const out = new BatchedResponse(res);
    let malformed: MalformedResponse | undefined;
    const onStdout = (chunk: Uint8Array) => {
      if (malformed || res.destroyed) return;
      try {
        const { head, body: rest } = parser.push(chunk);
        if (head) out.head(head.status, head.headers);
        if (rest && rest.length) out.write(rest);
      } catch (err) {
        if (err instanceof MalformedResponse) malformed = err;
        else throw err;
      }
    };
    const instanceId = await this.sandbox.createInstance(this.moduleId, {
      capabilities: caps,
      resourceLimits: this.resourceLimits,
      wasi: { stdin: body, onStdout, programName: 'app.wasm' },
      // Pristine per request without instantiating per request (docs/recycled-instances.md).
      recycle: true,
    });
    this.running++;
    try {
      await this.sandbox.runCommand(instanceId);
    } catch (err) {
      // However the guest met the cut-off stdin, the cause to answer for is the body.
      if (body instanceof StreamedBody && body.tooLarge) throw new RequestBodyTooLarge(body.max);
      throw err;
    } finally {
      this.running--;
      await this.sandbox.destroyInstance(instanceId).catch(() => {});
    }
    // A guest may also carry on past a failed read: its answer to a truncated body is not sent as whole.
    if (body instanceof StreamedBody && body.tooLarge) throw new RequestBodyTooLarge(body.max);
    if (malformed) throw malformed;
    if (!parser.complete) throw new MalformedResponse('the guest ended without a response head');
    out.end();
    return out.bytes;
  }

  close(): Promise<void> {
    return this.sandbox.close();
  }
}
