import { InvalidArguments, ResourceLimitExceeded, SecurityViolation } from '../errors.ts';
import { canonicalIp } from '../host/addresses.ts';
import { checkNetwork, describePolicy } from '../host/network.ts';
import type { Capabilities, NetworkPolicy } from '../security/capabilities.ts';
import { CONNECTION_RIGHTS, FDFLAGS, FILETYPE, LISTENER_RIGHTS, RIFLAGS, RIGHTS, SDFLAGS } from './constants.ts';
import type { WasiContext } from './context.ts';
import { ERRNO, errnoOf, fail } from './errno.ts';
import { hostlessEntry, type FdEntry } from './fd-table.ts';
import { needRights } from './fs-access.ts';
import { SocketLink } from './socket-link.ts';
import type { ListenerAddress, ListenerSpec, PollItem, Readiness } from './socket-protocol.ts';

export type { ListenerAddress, ListenerSpec } from './socket-protocol.ts';

export interface SocketReadiness {
  ready: boolean;
  errno: number;
  /** Bytes queued (read), room left (write), or connections waiting (listener). */
  nbytes: number;
  hangup: boolean;
}

interface Iovec {
  ptr: number;
  len: number;
}

/** Bytes moved per helper round trip; larger sends and receives take several. */
const MAX_TRANSFER = 1024 * 1024;

export function isSocket(e: FdEntry): boolean {
  return e.kind === 'socket' || e.kind === 'listener';
}

function errnoOfCode(code: string): number {
  return errnoOf({ code }) ?? ERRNO.IO;
}

/** The address a listener binds: an IP address (`localhost` stands for 127.0.0.1); undefined for anything else. */
export function listenerHost(host: string): string | undefined {
  return host.trim().toLowerCase() === 'localhost' ? '127.0.0.1' : canonicalIp(host);
}

/** Why the network grant refuses listening on `spec` (an address from listenerHost), or undefined when it allows it. */
export function listenerRefusal(spec: ListenerSpec, network: NetworkPolicy): string | undefined {
  const verdict = checkNetwork(network, { use: 'listen', address: spec.host, port: spec.port });
  return verdict.allowed ? undefined : verdict.detail;
}

/**
 * Validates the listeners an embedder asked for and checks each against the network grant (the
 * address as requested: port 0 needs `host:0` or `host:*` in an allow list). What is bound is what
 * was checked. A refusal is thrown as SecurityViolation, so the instance is never created; it is
 * the embedder's error, not a guest's attempt, so it is not also passed to onViolation (the
 * sandbox reports it as an event once).
 */
export function checkListeners(specs: unknown, caps: Capabilities): ListenerSpec[] {
  if (!Array.isArray(specs)) throw new InvalidArguments('wasi.listeners must be an array of { host, port }');
  return specs.map((s: unknown, i) => {
    const where = `wasi.listeners[${i}]`;
    if (s === null || typeof s !== 'object') throw new InvalidArguments(`${where} must be an object { host, port }`);
    const { host, port } = s as { host?: unknown; port?: unknown };
    if (typeof host !== 'string' || host.trim() === '') throw new InvalidArguments(`${where}.host must be a non-empty string`);
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new InvalidArguments(`${where}.port must be an integer from 0 to 65535 (0 picks a free port)`);
    }
    const address = listenerHost(host);
    if (address === undefined) throw new InvalidArguments(`${where}.host must be an IP address or localhost, got '${host}'`);
    const refusal = listenerRefusal({ host: address, port }, caps.network);
    if (refusal !== undefined) throw new SecurityViolation('network', `${refusal} (${describePolicy(caps.network)})`);
    return { host: address, port };
  });
}

/**
 * The host's side of the guest's sockets: the listeners the embedder pre-opened (served by a helper
 * thread, see socket-link.ts) and the connections the guest accepts from them. Blocking operations
 * wait on the helper's events; descriptors in non-blocking mode get EAGAIN instead.
 */
export class Sockets {
  readonly listeners: readonly ListenerAddress[];
  private readonly ctx: WasiContext;
  private readonly link: SocketLink;
  private readonly network: NetworkPolicy;
  private readonly onLimit: (error: ResourceLimitExceeded) => void;
  /** Set once a refusal at the connection limit was reported, until a connection closes. */
  private limitReported = false;

  private constructor(ctx: WasiContext, link: SocketLink, firstFd: number, network: NetworkPolicy, onLimit: (error: ResourceLimitExceeded) => void) {
    this.ctx = ctx;
    this.link = link;
    this.network = network;
    this.onLimit = onLimit;
    this.listeners = link.addresses.map((a, index) => {
      const fd = firstFd + index;
      ctx.fds.place(fd, {
        ...socketEntry('listener', index, LISTENER_RIGHTS, CONNECTION_RIGHTS, 0),
        release: () => link.post({ op: 'close-listener', listener: index }),
      });
      return { host: a.host, port: a.port, fd };
    });
  }

  /** Binds `specs` (already checked) on a new helper thread and places them as descriptors firstFd, firstFd + 1, … */
  static open(ctx: WasiContext, specs: readonly ListenerSpec[], firstFd: number, network: NetworkPolicy, onLimit: (error: ResourceLimitExceeded) => void): Sockets {
    return new Sockets(ctx, SocketLink.start(specs, ctx), firstFd, network, onLimit);
  }

  /** Ends every socket; see SocketLink.close. Later releases of socket descriptors are no-ops for the helper. */
  close(): void {
    this.link.close();
  }

  private blocking<T>(e: FdEntry, attempt: () => T | undefined): T {
    const nonblock = (e.fdflags & FDFLAGS.NONBLOCK) !== 0;
    for (;;) {
      const seq = this.link.seq();
      const v = attempt();
      if (v !== undefined) return v;
      if (nonblock) fail(ERRNO.AGAIN);
      this.link.waitEvent(seq);
    }
  }

  /**
   * Accepts a connection on a listener; returns its new descriptor. Whether this blocks is the
   * listener's NONBLOCK flag (as with POSIX accept4); `fdflags` are the new descriptor's flags.
   */
  accept(listener: FdEntry, fdflags: number): number {
    const { counters, fds } = this.ctx;
    const max = this.ctx.io.maxNetworkConnections;
    if (max !== null && counters.networkConnections >= max) {
      // One report per episode at the limit: a guest retrying in a loop must not flood the embedder.
      if (!this.limitReported) {
        this.limitReported = true;
        this.onLimit(new ResourceLimitExceeded('network-connections', max, counters.networkConnections + 1, 'sock_accept refused with EMFILE'));
      }
      fail(ERRNO.MFILE);
    }
    fds.reserve();
    const link = this.link;
    const sock = this.blocking(listener, () => {
      for (;;) {
        const r = link.request({ op: 'accept', listener: listener.socket! });
        if (r.code === 'EAGAIN') return undefined;
        if (r.code !== undefined) fail(errnoOfCode(r.code));
        // A peer the grant does not cover never reaches the guest: its connection is closed and the next one taken.
        const verdict = checkNetwork(this.network, { use: 'accept', address: r.remote?.host ?? '', port: r.remote?.port ?? 0 });
        if (verdict.allowed) return r.sock!;
        this.ctx.violation('network', verdict.detail);
        link.post({ op: 'close', sock: r.sock! });
      }
    });
    const entry = socketEntry('socket', sock, listener.rightsInheriting & CONNECTION_RIGHTS, 0, fdflags);
    entry.release = () => {
      counters.releaseConnection();
      if (max === null || counters.networkConnections < max) this.limitReported = false;
      link.post({ op: 'close', sock });
    };
    const fd = fds.add(entry);
    counters.reserveConnection();
    return fd;
  }

  /** Reads into `iovs` (RECV_PEEK leaves the data queued; RECV_WAITALL fills them unless EOF or an error comes first). Returns 0 at EOF. */
  recv(e: FdEntry, iovs: Iovec[], flags: number): number {
    if (e.kind !== 'socket') fail(ERRNO.NOTCONN);
    let capacity = 0;
    for (const v of iovs) capacity += v.len;
    if (capacity === 0) return 0;
    const peek = (flags & RIFLAGS.RECV_PEEK) !== 0;
    const waitAll = (flags & RIFLAGS.RECV_WAITALL) !== 0 && !peek;
    const receive = (max: number): Uint8Array =>
      this.blocking(e, () => {
        const r = this.link.request({ op: 'recv', sock: e.socket!, max: Math.min(max, MAX_TRANSFER), peek });
        if (r.code === 'EAGAIN') return undefined;
        if (r.code !== undefined) fail(errnoOfCode(r.code));
        return r.data!;
      });
    let data = receive(capacity);
    let total = this.scatter(data, iovs, 0);
    while (waitAll && total < capacity && data.length > 0) {
      try {
        data = receive(capacity - total);
      } catch (err) {
        // What arrived before the failure is delivered; the failure shows on the next call.
        if (errnoOf(err) !== undefined) break;
        throw err;
      }
      total += this.scatter(data, iovs, total);
    }
    return total;
  }

  /** Sends everything in `iovs` (blocking), or as much as fits without waiting (non-blocking). */
  send(e: FdEntry, iovs: Iovec[]): number {
    if (e.kind !== 'socket') fail(ERRNO.NOTCONN);
    let total = 0;
    for (const v of iovs) total += v.len;
    let sent = 0;
    while (sent < total) {
      const chunk = this.gather(iovs, sent, Math.min(MAX_TRANSFER, total - sent));
      let n: number;
      try {
        n = this.blocking(e, () => {
          const r = this.link.request({ op: 'send', sock: e.socket!, data: chunk });
          if (r.code === 'EAGAIN') return undefined;
          if (r.code !== undefined) fail(errnoOfCode(r.code));
          return r.n!;
        });
      } catch (err) {
        // A short count, as from POSIX send; the failure (or EAGAIN) shows on the next call.
        if (sent > 0 && errnoOf(err) !== undefined) break;
        throw err;
      }
      sent += n;
    }
    return sent;
  }

  shutdown(e: FdEntry, how: number): void {
    if (e.kind !== 'socket') fail(ERRNO.NOTCONN);
    const r = this.link.request({ op: 'shutdown', sock: e.socket!, how });
    if (r.code !== undefined) fail(errnoOfCode(r.code));
  }

  /** The event counter to wait on after a readiness check that found nothing ready. */
  seq(): number {
    return this.link.seq();
  }

  waitEvent(seq: number, maxMs: number): void {
    this.link.waitEvent(seq, maxMs);
  }

  /** Readiness of each (socket descriptor, direction) pair, without waiting. */
  readiness(subs: readonly { entry: FdEntry; write: boolean }[]): SocketReadiness[] {
    const items: PollItem[] = subs.map((s) => ({ kind: s.entry.kind === 'listener' ? 'listener' : 'conn', id: s.entry.socket!, write: s.write }));
    const r = this.link.request({ op: 'poll', items });
    if (r.code !== undefined) fail(errnoOfCode(r.code));
    return r.readiness!.map((x: Readiness) => ({ ready: x.ready, errno: x.code === undefined ? ERRNO.SUCCESS : errnoOfCode(x.code), nbytes: x.nbytes, hangup: x.hangup }));
  }

  private scatter(data: Uint8Array, iovs: Iovec[], offset: number): number {
    const u8 = this.ctx.mem.u8();
    let skip = offset;
    let done = 0;
    for (const v of iovs) {
      if (done === data.length) break;
      if (skip >= v.len) {
        skip -= v.len;
        continue;
      }
      const k = Math.min(v.len - skip, data.length - done);
      u8.set(data.subarray(done, done + k), v.ptr + skip);
      done += k;
      skip = 0;
    }
    return done;
  }

  private gather(iovs: Iovec[], offset: number, n: number): Uint8Array {
    const u8 = this.ctx.mem.u8();
    const out = new Uint8Array(n);
    let skip = offset;
    let done = 0;
    for (const v of iovs) {
      if (done === n) break;
      if (skip >= v.len) {
        skip -= v.len;
        continue;
      }
      const k = Math.min(v.len - skip, n - done);
      out.set(u8.subarray(v.ptr + skip, v.ptr + skip + k), done);
      done += k;
      skip = 0;
    }
    return out;
  }
}

function socketEntry(kind: 'listener' | 'socket', socket: number, rightsBase: number, rightsInheriting: number, fdflags: number): FdEntry {
  return hostlessEntry(kind, FILETYPE.SOCKET_STREAM, rightsBase, rightsInheriting, fdflags, socket);
}

/**
 * sock_accept / sock_recv / sock_send / sock_shutdown. Only descriptors the host made are sockets:
 * the listeners pre-opened by the embedder (placed after the preopens) and what the guest accepts
 * from them. Preview1 has no way to open a socket, so without listeners every call is ENOTSOCK
 * (EBADF for a closed descriptor).
 */
export function createSocketFunctions(ctx: WasiContext) {
  const { mem, fds } = ctx;

  function socketOf(fd: number): FdEntry {
    const e = fds.get(fd);
    if (!isSocket(e) || ctx.sockets === undefined) fail(ERRNO.NOTSOCK);
    return e;
  }

  return {
    sock_accept(fd: number, flags: number, fdPtr: number): number {
      mem.check(fdPtr, 4);
      if ((flags & ~FDFLAGS.NONBLOCK) !== 0) fail(ERRNO.INVAL);
      const e = socketOf(fd);
      // POSIX: accepting on a socket that is not listening.
      if (e.kind !== 'listener') fail(ERRNO.INVAL);
      needRights(e, RIGHTS.SOCK_ACCEPT);
      mem.setU32(fdPtr, ctx.sockets!.accept(e, flags & FDFLAGS.NONBLOCK));
      return ERRNO.SUCCESS;
    },
    sock_recv(fd: number, riData: number, riDataLen: number, riFlags: number, roDatalenPtr: number, roFlagsPtr: number): number {
      const iovs = mem.iovecs(riData, riDataLen);
      mem.check(roDatalenPtr, 4);
      mem.check(roFlagsPtr, 2);
      const e = socketOf(fd);
      if ((riFlags & ~(RIFLAGS.RECV_PEEK | RIFLAGS.RECV_WAITALL)) !== 0) fail(ERRNO.INVAL);
      if (e.kind !== 'socket') fail(ERRNO.NOTCONN);
      needRights(e, RIGHTS.FD_READ);
      const n = ctx.sockets!.recv(e, iovs, riFlags);
      mem.setU32(roDatalenPtr, n);
      // RECV_DATA_TRUNCATED only concerns datagrams; a stream never truncates.
      mem.setU16(roFlagsPtr, 0);
      return ERRNO.SUCCESS;
    },
    sock_send(fd: number, siData: number, siDataLen: number, _siFlags: number, soDatalenPtr: number): number {
      const iovs = mem.iovecs(siData, siDataLen);
      mem.check(soDatalenPtr, 4);
      const e = socketOf(fd);
      if (e.kind !== 'socket') fail(ERRNO.NOTCONN);
      needRights(e, RIGHTS.FD_WRITE);
      mem.setU32(soDatalenPtr, ctx.sockets!.send(e, iovs));
      return ERRNO.SUCCESS;
    },
    sock_shutdown(fd: number, how: number): number {
      fds.get(fd);
      if ((how & ~(SDFLAGS.RD | SDFLAGS.WR)) !== 0 || how === 0) fail(ERRNO.INVAL);
      const e = socketOf(fd);
      if (e.kind !== 'socket') fail(ERRNO.NOTCONN);
      needRights(e, RIGHTS.SOCK_SHUTDOWN);
      ctx.sockets!.shutdown(e, how);
      return ERRNO.SUCCESS;
    },
  };
}
