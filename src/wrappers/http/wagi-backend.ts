import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import type { WasmSandbox } from '../../sandbox/wasm-sandbox.ts';
import type { RuntimeKind } from '../../runtime/types.ts';
import { RequestBodyTooLarge, StreamedBody, type HttpBackend } from './backend.ts';
import { CgiResponseParser, MalformedResponse, cgiEnvironment } from './wagi.ts';

/**
 * WASI preview1 commands following the WAGI convention; every request runs `_start` in a fresh
 * instance, and the response streams to the client as the guest writes it. On the worker runtime the
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
    let malformed: MalformedResponse | undefined;
    let bytesOut = 0;
    const onStdout = (chunk: Uint8Array) => {
      if (malformed || res.destroyed) return;
      try {
        const { head, body: rest } = parser.push(chunk);
        if (head) res.writeHead(head.status, head.headers.flat());
        if (rest && rest.length) {
          bytesOut += rest.length;
          // Chunks may be views of guest memory that the guest reuses: the response keeps a copy.
          res.write(Buffer.from(rest));
        }
      } catch (err) {
        if (err instanceof MalformedResponse) malformed = err;
        else throw err;
      }
    };
    const instanceId = await this.sandbox.createInstance(this.moduleId, {
      capabilities: caps,
      resourceLimits: this.resourceLimits,
      wasi: { stdin: body, onStdout, programName: 'app.wasm' },
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
    res.end();
    return bytesOut;
  }

  close(): Promise<void> {
    return this.sandbox.close();
  }
}
