import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidArguments } from '../../errors.ts';

/** Listens on `host:port` (port 0: a free one), or fails with InvalidArguments naming `what`. */
export async function listenOn(server: Server, listen: { host?: string; port?: number }, what: string): Promise<void> {
  const host = listen.host ?? '127.0.0.1';
  const port = listen.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: Error) => {
    throw new InvalidArguments(`cannot listen${what} on ${host}:${port}: ${err.message}`);
  });
}

/** Where a listening server is, with the URL a client would use. */
export function addressOf(server: Server): { host: string; port: number; url: string } {
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { host: a.address, port: a.port, url: `http://${host}:${a.port}` };
}
