/**
 * Name resolution for guests, in the helper threads that own the network. It only finds addresses:
 * every answer is handed back unchecked, and the network check (network.ts) decides which may be used.
 */
import { lookup, Resolver } from 'node:dns';

export type Resolution = { ok: true; addresses: string[] } | { ok: false; code: string; message: string };

function failure(err: NodeJS.ErrnoException): Resolution {
  return { ok: false, code: err.code ?? 'EIO', message: err.message };
}

/**
 * The addresses of `name`: from the system resolver (hosts file included), or, when the grant names
 * DNS servers, from asking exactly those servers for A and AAAA records (IPv4 first).
 */
export function resolveName(name: string, servers: readonly string[] | undefined): Promise<Resolution> {
  if (servers === undefined || servers.length === 0) {
    return new Promise((resolve) => {
      lookup(name, { all: true, order: 'verbatim' }, (err, found) => resolve(err ? failure(err) : { ok: true, addresses: [...new Set(found.map((a) => a.address))] }));
    });
  }
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([...servers]);
  const ask = (family: 4 | 6): Promise<string[] | NodeJS.ErrnoException> =>
    new Promise((resolve) => {
      const done = (err: NodeJS.ErrnoException | null, found: string[]): void => resolve(err ?? found);
      if (family === 4) resolver.resolve4(name, done);
      else resolver.resolve6(name, done);
    });
  return Promise.all([ask(4), ask(6)]).then(([v4, v6]) => {
    const addresses = [...(Array.isArray(v4) ? v4 : []), ...(Array.isArray(v6) ? v6 : [])];
    if (addresses.length > 0) return { ok: true, addresses: [...new Set(addresses)] };
    // Neither family answered: the IPv4 failure says why (ENOTFOUND, ENODATA, ETIMEOUT, ECONNREFUSED).
    return failure(Array.isArray(v4) ? (v6 as NodeJS.ErrnoException) : v4);
  });
}
