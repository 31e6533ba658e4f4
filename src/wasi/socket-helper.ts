/**
 * The socket helper: a worker thread that owns a WASI host's listeners and the connections they
 * accept, because Node can only do network I/O on an event loop, and the guest's thread has none to
 * spare. Every operation here is non-blocking and answered at once; the guest's thread does the
 * blocking, waiting on the shared event counter this side bumps whenever a socket changes.
 *
 * Memory is bounded: each connection buffers at most about HIGH_WATER bytes before it is paused
 * (TCP flow control then holds the peer back), and each listener queues at most PENDING_MAX
 * connections the guest has not accepted yet; later ones are closed as they arrive. A UDP socket
 * queues at most DATAGRAMS_MAX datagrams the guest has not received; later ones are dropped, as a
 * full kernel buffer would drop them.
 */
import { createSocket as createDgram, type Socket as DgramSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { workerData } from 'node:worker_threads';
import { resolveName } from '../host/resolve.ts';
import {
  CTL_EVENT, CTL_GONE, CTL_REPLY, SHUT_RD, SHUT_WR, STARTUP_ID, type Datagram, type HelperData, type PollItem, type Readiness, type Reply, type Request,
} from './socket-protocol.ts';

const HIGH_WATER = 64 * 1024;
const PENDING_MAX = 64;
const DATAGRAMS_MAX = 64;
const EMPTY = new Uint8Array(0);

interface Conn {
  socket: Socket;
  chunks: Buffer[];
  size: number;
  /** The peer finished sending (or the socket is gone). */
  eof: boolean;
  /** Set once the socket failed. */
  failed: boolean;
  /** The failure's code until one operation has reported it, like a socket's pending SO_ERROR. */
  code: string | undefined;
  readShut: boolean;
  writeShut: boolean;
  /** Incoming data is dropped: the guest shut reading down or closed the socket. */
  discard: boolean;
  /** An outgoing connection not established yet; a failure while set is the connect's failure. */
  connecting: boolean;
}

interface Listener {
  server: Server;
  pending: Conn[];
  open: boolean;
  /** Connections queued before later ones are refused: PENDING_MAX, or the guest's smaller backlog. */
  pendingMax: number;
}

interface Udp {
  socket: DgramSocket;
  queue: Datagram[];
  /** Set by udp-connect: only datagrams from this peer are kept. */
  remote: { host: string; port: number } | undefined;
}

interface Lookup {
  done: boolean;
  addresses: string[];
  code: string | undefined;
}

const { ctl, port, listeners: specs, lingerMs } = workerData as HelperData;
const listeners: Listener[] = [];
const conns = new Map<number, Conn>();
let nextSock = 1;
const udps = new Map<number, Udp>();
const lookups = new Map<number, Lookup>();
let nextLookup = 1;

function wake(): void {
  Atomics.add(ctl, CTL_EVENT, 1);
  Atomics.notify(ctl, CTL_EVENT);
}

function reply(r: Reply): void {
  port.postMessage(r);
  Atomics.add(ctl, CTL_REPLY, 1);
  Atomics.notify(ctl, CTL_REPLY);
}

process.on('exit', () => {
  Atomics.store(ctl, CTL_GONE, 1);
  Atomics.notify(ctl, CTL_REPLY);
  Atomics.notify(ctl, CTL_EVENT);
});

function track(socket: Socket): Conn {
  const c: Conn = {
    socket, chunks: [], size: 0, eof: false, failed: false, code: undefined, readShut: false, writeShut: false, discard: false, connecting: false,
  };
  socket.on('data', (chunk: Buffer) => {
    if (c.discard) return;
    c.chunks.push(chunk);
    c.size += chunk.length;
    if (c.size >= HIGH_WATER) socket.pause();
    wake();
  });
  socket.on('end', () => {
    c.eof = true;
    wake();
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (!c.failed) {
      c.failed = true;
      c.code = err.code ?? 'EIO';
    }
    wake();
  });
  socket.on('close', () => {
    c.eof = true;
    wake();
  });
  socket.on('drain', wake);
  return c;
}

function take(c: Conn, max: number, peek: boolean): Uint8Array {
  const n = Math.min(max, c.size);
  const out = new Uint8Array(n);
  let off = 0;
  let used = 0;
  while (off < n) {
    const chunk = c.chunks[used];
    const k = Math.min(chunk.length, n - off);
    out.set(chunk.subarray(0, k), off);
    off += k;
    if (peek || k === chunk.length) used++;
    else c.chunks[used] = chunk.subarray(k);
  }
  if (!peek) {
    c.chunks.splice(0, used);
    c.size -= n;
    if (c.socket.isPaused() && c.size < HIGH_WATER / 2) c.socket.resume();
  }
  return out;
}

/** Ends a connection the guest let go of: what it sent is flushed (for at most lingerMs), then the socket closes. */
function release(c: Conn): Promise<void> {
  c.discard = true;
  c.chunks = [];
  c.size = 0;
  const socket = c.socket;
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.resume();
    if (socket.writableFinished) socket.destroy();
    else {
      socket.once('finish', () => socket.destroy());
      if (!socket.writableEnded) socket.end();
    }
  });
}

function closeListener(l: Listener): void {
  if (!l.open) return;
  l.open = false;
  // Stops listening at once; the callback form would wait for every accepted connection too.
  l.server.close();
  for (const c of l.pending) c.socket.destroy();
  l.pending = [];
}

function readiness(item: PollItem): Readiness {
  const r: Readiness = { ready: false, nbytes: 0, hangup: false, code: undefined };
  if (item.kind === 'udp') {
    const u = udps.get(item.id);
    if (u === undefined) return { ...r, ready: true, code: 'EBADF' };
    // Sending never waits: Node queues the datagram and the kernel drops what it cannot take.
    if (item.write || u.queue.length > 0) return { ...r, ready: true, nbytes: u.queue.length };
    return r;
  }
  if (item.kind === 'listener') {
    const l = listeners[item.id];
    if (l === undefined || !l.open) return { ...r, ready: true, code: 'EBADF' };
    // Like POSIX poll: a listener is never writable, and readable while a connection waits.
    if (!item.write && l.pending.length > 0) return { ...r, ready: true, nbytes: l.pending.length };
    return r;
  }
  const c = conns.get(item.id);
  if (c === undefined) return { ...r, ready: true, code: 'EBADF' };
  if (c.code !== undefined) return { ...r, ready: true, code: c.code };
  if (!item.write) {
    if (c.readShut) return { ...r, ready: true, hangup: true };
    if (c.size > 0) return { ...r, ready: true, nbytes: c.size };
    if (c.eof || c.failed || c.socket.destroyed) return { ...r, ready: true, hangup: true };
    return r;
  }
  if (c.writeShut || c.failed || c.socket.destroyed || !c.socket.writable) return { ...r, ready: true, hangup: true };
  if (c.socket.writableNeedDrain) return r;
  return { ...r, ready: true, nbytes: Math.max(0, c.socket.writableHighWaterMark - c.socket.writableLength) };
}

function serve(r: Request): Reply | undefined {
  switch (r.op) {
    case 'accept': {
      const l = listeners[r.listener];
      if (l === undefined || !l.open) return { id: r.id, code: 'EBADF' };
      const c = l.pending.shift();
      if (c === undefined) return { id: r.id, code: 'EAGAIN' };
      const sock = nextSock++;
      conns.set(sock, c);
      const { remoteAddress, remotePort } = c.socket;
      return { id: r.id, sock, remote: remoteAddress === undefined || remotePort === undefined ? undefined : { host: remoteAddress, port: remotePort } };
    }
    case 'recv': {
      const c = conns.get(r.sock);
      if (c === undefined) return { id: r.id, code: 'EBADF' };
      if (c.readShut) return { id: r.id, data: EMPTY };
      if (c.size > 0) return { id: r.id, data: take(c, r.max, r.peek) };
      if (c.code !== undefined) {
        const code = c.code;
        if (!r.peek) c.code = undefined;
        return { id: r.id, code };
      }
      if (c.eof || c.failed || c.socket.destroyed) return { id: r.id, data: EMPTY };
      return { id: r.id, code: 'EAGAIN' };
    }
    case 'send': {
      const c = conns.get(r.sock);
      if (c === undefined) return { id: r.id, code: 'EBADF' };
      if (c.code !== undefined) {
        const code = c.code;
        c.code = undefined;
        return { id: r.id, code };
      }
      if (c.writeShut || c.failed || c.socket.destroyed || !c.socket.writable) return { id: r.id, code: 'EPIPE' };
      if (c.socket.writableNeedDrain) return { id: r.id, code: 'EAGAIN' };
      c.socket.write(r.data);
      return { id: r.id, n: r.data.length };
    }
    case 'shutdown': {
      const c = conns.get(r.sock);
      if (c === undefined) return { id: r.id, code: 'EBADF' };
      if (c.socket.destroyed) return { id: r.id, code: 'ENOTCONN' };
      if (r.how & SHUT_RD && !c.readShut) {
        c.readShut = true;
        c.discard = true;
        c.chunks = [];
        c.size = 0;
        c.socket.resume();
      }
      if (r.how & SHUT_WR && !c.writeShut) {
        c.writeShut = true;
        c.socket.end();
      }
      wake();
      return { id: r.id };
    }
    case 'poll':
      return { id: r.id, readiness: r.items.map(readiness) };
    case 'close': {
      const c = conns.get(r.sock);
      if (c !== undefined) {
        conns.delete(r.sock);
        void release(c);
      }
      return undefined;
    }
    case 'close-listener': {
      const l = listeners[r.listener];
      if (l !== undefined) closeListener(l);
      return undefined;
    }
    case 'connect': {
      const socket = connect({ host: r.host, port: r.port, localAddress: r.localHost, localPort: r.localPort, allowHalfOpen: true, noDelay: true });
      const c = track(socket);
      c.connecting = true;
      socket.once('connect', () => {
        c.connecting = false;
        wake();
      });
      const sock = nextSock++;
      conns.set(sock, c);
      const { remoteAddress, remotePort } = c.socket;
      return { id: r.id, sock, remote: remoteAddress === undefined || remotePort === undefined ? undefined : { host: remoteAddress, port: remotePort } };
    }
    case 'conn-info': {
      const c = conns.get(r.sock);
      if (c === undefined) return { id: r.id, code: 'EBADF' };
      if (c.connecting && c.failed) return { id: r.id, code: c.code ?? 'ECONNREFUSED' };
      const s = c.socket;
      const local = s.localAddress !== undefined && s.localPort !== undefined ? { host: s.localAddress, port: s.localPort } : undefined;
      const remote = s.remoteAddress !== undefined && s.remotePort !== undefined ? { host: s.remoteAddress, port: s.remotePort } : undefined;
      return { id: r.id, connecting: c.connecting, local, remote };
    }
    case 'listen': {
      const id = r.id;
      const index = listeners.length;
      bindListener(index, r.host, r.port, Math.max(1, Math.min(PENDING_MAX, r.backlog))).then(
        (address) => reply({ id, listener: index, addresses: [address] }),
        (err: NodeJS.ErrnoException) => reply({ id, code: err.code ?? 'EIO', message: err.message }),
      );
      return undefined;
    }
    case 'lookup': {
      const lookup = nextLookup++;
      const entry: Lookup = { done: false, addresses: [], code: undefined };
      lookups.set(lookup, entry);
      void resolveName(r.name, r.servers).then((found) => {
        entry.done = true;
        if (found.ok) entry.addresses = found.addresses;
        else entry.code = found.code;
        wake();
      });
      return { id: r.id, lookup };
    }
    case 'lookup-result': {
      const entry = lookups.get(r.lookup);
      if (entry === undefined) return { id: r.id, code: 'EBADF' };
      if (!entry.done) return { id: r.id, code: 'EAGAIN' };
      lookups.delete(r.lookup);
      if (entry.code !== undefined) return { id: r.id, code: entry.code };
      return { id: r.id, addresses: entry.addresses.map((host) => ({ host, port: 0 })) };
    }
    case 'udp-bind': {
      const id = r.id;
      bindUdp(r.host, r.port, r.ipv6).then(
        ({ sock, local }) => reply({ id, sock, local }),
        (err: NodeJS.ErrnoException) => reply({ id, code: err.code ?? 'EIO', message: err.message }),
      );
      return undefined;
    }
    case 'udp-connect': {
      const u = udps.get(r.sock);
      if (u === undefined) return { id: r.id, code: 'EBADF' };
      u.remote = r.remote;
      const remote = r.remote;
      if (remote !== undefined) u.queue = u.queue.filter((d) => d.host === remote.host && d.port === remote.port);
      return { id: r.id };
    }
    case 'udp-recv': {
      const u = udps.get(r.sock);
      if (u === undefined) return { id: r.id, code: 'EBADF' };
      return { id: r.id, datagrams: u.queue.splice(0, Math.max(0, r.max)) };
    }
    case 'udp-send': {
      const u = udps.get(r.sock);
      if (u === undefined) return { id: r.id, code: 'EBADF' };
      const id = r.id;
      void sendAll(u.socket, r.datagrams).then(({ n, code }) => reply({ id, n, code }));
      return undefined;
    }
    case 'udp-close': {
      const u = udps.get(r.sock);
      if (u !== undefined) {
        udps.delete(r.sock);
        u.socket.close();
      }
      return undefined;
    }
    case 'forget-lookup':
      lookups.delete(r.lookup);
      return undefined;
    case 'close-all': {
      lookups.clear();
      for (const u of udps.values()) u.socket.close();
      udps.clear();
      for (const l of listeners) if (l !== undefined) closeListener(l);
      const all = [...conns.values()];
      conns.clear();
      const done = Promise.all(all.map(release));
      const id = r.id;
      void done.then(() => {
        reply({ id });
        port.close();
      });
      return undefined;
    }
    default:
      return { id: (r as { id: number }).id, code: 'ENOSYS' };
  }
}

port.on('message', (r: Request) => {
  let out: Reply | undefined;
  try {
    out = serve(r);
  } catch (err) {
    out = { id: r.id, code: (err as NodeJS.ErrnoException).code ?? 'EIO', message: (err as Error).message };
  }
  if (out !== undefined) reply(out);
});

function bindUdp(host: string, port: number, ipv6: boolean): Promise<{ sock: number; local: { host: string; port: number } }> {
  return new Promise((resolve, reject) => {
    const socket = createDgram({ type: ipv6 ? 'udp6' : 'udp4' });
    const u: Udp = { socket, queue: [], remote: undefined };
    const failed = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', failed);
    socket.on('message', (msg, rinfo) => {
      const remote = u.remote;
      if (remote !== undefined && (rinfo.address !== remote.host || rinfo.port !== remote.port)) return;
      if (u.queue.length >= DATAGRAMS_MAX) return;
      u.queue.push({ data: new Uint8Array(msg), host: rinfo.address, port: rinfo.port });
      wake();
    });
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.removeListener('error', failed);
      // Errors on a bound socket surface through send's callback; keep the rest from crashing the helper.
      socket.on('error', () => {});
      const sock = nextSock++;
      udps.set(sock, u);
      const a = socket.address();
      resolve({ sock, local: { host: a.address, port: a.port } });
    });
  });
}

/** Sends in order and stops at the first failure: the guest learns how many went out. */
async function sendAll(socket: DgramSocket, datagrams: readonly Datagram[]): Promise<{ n: number; code: string | undefined }> {
  let n = 0;
  for (const d of datagrams) {
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      try {
        socket.send(d.data, d.port, d.host, (e) => resolve(e));
      } catch (e) {
        resolve(e as NodeJS.ErrnoException);
      }
    });
    if (err !== null) return { n, code: err.code ?? 'EIO' };
    n++;
  }
  return { n, code: undefined };
}

function listen(index: number): Promise<{ host: string; port: number }> {
  const spec = specs[index];
  return bindListener(index, spec.host, spec.port, PENDING_MAX);
}

function bindListener(index: number, host: string, port: number, pendingMax: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    const l: Listener = { server, pending: [], open: true, pendingMax };
    listeners[index] = l;
    server.on('connection', (socket) => {
      if (!l.open || l.pending.length >= l.pendingMax) {
        socket.destroy();
        return;
      }
      l.pending.push(track(socket));
      wake();
    });
    const failed = (err: Error): void => {
      l.open = false;
      reject(err);
    };
    server.once('error', failed);
    server.listen({ host, port }, () => {
      server.removeListener('error', failed);
      // A listening server reports nothing further the guest could act on; keep it from crashing the helper.
      server.on('error', () => {});
      const a = server.address() as AddressInfo;
      resolve({ host: a.address, port: a.port });
    });
  });
}

Promise.all(specs.map((_, i) => listen(i).catch((err: NodeJS.ErrnoException) => {
  throw Object.assign(new Error(`${specs[i].host}:${specs[i].port}: ${err.code ?? err.message}`), { code: err.code ?? 'EIO' });
}))).then(
  (addresses) => reply({ id: STARTUP_ID, addresses }),
  (err: NodeJS.ErrnoException) => {
    for (const l of listeners) if (l !== undefined) closeListener(l);
    reply({ id: STARTUP_ID, code: err.code ?? 'EIO', message: err.message });
    port.close();
  },
);
