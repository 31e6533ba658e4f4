/**
 * The operations listener of `serve`: `/metrics` (Prometheus text), `/healthz` (the process answers)
 * and `/readyz` (it can take traffic: the guest is loaded, the pool can serve, and it is not
 * draining). It listens on its own address, apart from the guests' port, so nothing a client sends
 * to the app can reach it and nothing here is ever routed to a guest.
 */
import type { Server } from 'node:http';
import { addressOf, listenOn } from './listen.ts';

/** Where the operations endpoints listen: default 127.0.0.1, port 0 (a free one; see `adminAddress()`). */
export interface AdminListen {
  /** The address to listen on; default 127.0.0.1. */
  host?: string;
  /** The port; default 0, a free one (see `adminAddress`). */
  port?: number;
}

export interface AdminSource {
  /** The metrics text and its content type. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Why the server cannot take traffic now, or undefined when it can. */
  notReady(): string | undefined;
}

export class AdminServer {
  private readonly http: Server;

  private constructor(http: Server) {
    this.http = http;
  }

  static async start(listen: AdminListen, source: AdminSource): Promise<AdminServer> {
    const http = process.getBuiltinModule('node:http').createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const answer = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'Method Not Allowed\n');
      if (path === '/healthz') return answer(200, 'ok\n');
      if (path === '/readyz') {
        const why = source.notReady();
        return why === undefined ? answer(200, 'ready\n') : answer(503, `not ready: ${why}\n`);
      }
      if (path === '/metrics') {
        source.metrics().then(
          ({ contentType, text }) => answer(200, text, contentType),
          () => answer(500, 'metrics unavailable\n'),
        );
        return;
      }
      answer(404, 'Not Found\n');
    });
    // A probe's connection must never keep a draining process alive.
    http.keepAliveTimeout = 1000;
    await listenOn(http, listen, ' for the admin endpoint');
    return new AdminServer(http);
  }

  address(): { host: string; port: number; url: string } {
    return addressOf(this.http);
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    return closed;
  }
}
