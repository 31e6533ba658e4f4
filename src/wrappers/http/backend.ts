import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * One kind of guest behind the HTTP server. `serve` answers one request whose body has been read,
 * writing the guest's response to `res`, and resolves with the body bytes sent. Failures are thrown
 * as typed errors (or MalformedResponse) and mapped to statuses by the server, which owns
 * concurrency, logging and shutdown.
 */
export interface HttpBackend {
  readonly kind: 'wagi' | 'wasi-http';
  serve(req: IncomingMessage, res: ServerResponse, body: Uint8Array): Promise<number>;
  close(): Promise<void>;
}
