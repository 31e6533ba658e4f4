/**
 * wasi:sockets: every address is checked against the grant's network policy and a refusal is the
 * WIT `access-denied` error, never a trap. TCP (connect, bind + listen + accept, streams, shutdown)
 * and IP name lookup for allowed addresses are real: the preview1 socket helper (a worker thread
 * that owns the Node sockets) does the I/O, and the guest's thread waits for it with Atomics.wait in
 * slices that notice the call's deadline. The helper starts on first use and ends with the instance.
 * UDP is real too: each datagram's destination is checked on its own, and the helper keeps a bounded
 * queue of what arrived for the guest to receive without blocking.
 */
import { SocketLink } from '../../wasi/socket-link.ts';
import { SHUT_RD, SHUT_WR, type Datagram, type Reply } from '../../wasi/socket-protocol.ts';
import { guardClass, guardFunctions, type HostState } from './host-state.ts';
import { networkAllows } from './network-policy.ts';
import type { ByteSink, ByteSource, Io } from './io.ts';

type SocketAddress =
  | { tag: 'ipv4'; val: { port: number; address: [number, number, number, number] } }
  | { tag: 'ipv6'; val: { port: number; address: number[]; flowInfo: number; scopeId: number } };

type IpAddress = { tag: 'ipv4'; val: [number, number, number, number] } | { tag: 'ipv6'; val: number[] };

type ShutdownType = 'receive' | 'send' | 'both';

/** Node's error codes as wasi:sockets error-codes; anything else is `unknown`. */
const ERROR_CODES: Record<string, string> = {
  EACCES: 'access-denied', EPERM: 'access-denied', EINVAL: 'invalid-argument', EAFNOSUPPORT: 'invalid-argument',
  ENOMEM: 'out-of-memory', ENOBUFS: 'out-of-memory', ETIMEDOUT: 'timeout', EAGAIN: 'would-block',
  EMFILE: 'new-socket-limit', ENFILE: 'new-socket-limit', EADDRNOTAVAIL: 'address-not-bindable',
  EADDRINUSE: 'address-in-use', EHOSTUNREACH: 'remote-unreachable', ENETUNREACH: 'remote-unreachable',
  ENETDOWN: 'remote-unreachable', ECONNREFUSED: 'connection-refused', ECONNRESET: 'connection-reset',
  EPIPE: 'connection-reset', ECONNABORTED: 'connection-aborted', ENOTFOUND: 'name-unresolvable',
  ENODATA: 'name-unresolvable', EAI_NONAME: 'name-unresolvable', EAI_AGAIN: 'temporary-resolver-failure',
  EAI_FAIL: 'permanent-resolver-failure', EMSGSIZE: 'datagram-too-large',
};

/** The most datagrams one receive returns or one send takes (check-send's answer). */
const DATAGRAM_BATCH = 64;

function errorCode(code: string): string {
  return ERROR_CODES[code] ?? 'unknown';
}

/** The canonical text form of an IPv6 address: the longest run of two or more zero groups becomes `::`. */
function ipv6(groups: readonly number[]): string {
  const hex = groups.map((g) => g.toString(16));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i >= 2 && j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function hostOf(addr: SocketAddress): string {
  return addr.tag === 'ipv4' ? addr.val.address.join('.') : ipv6(addr.val.address);
}

/** The eight groups of an IPv6 address as Node prints it (a zone and a dotted IPv4 tail allowed). */
function ipv6Groups(text: string): number[] {
  let t = text.split('%')[0];
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    t = `${t.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = t.split('::');
  const part = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = part(head);
  const rest = part(tail);
  return tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - rest.length).fill(0), ...rest];
}

function ipAddress(host: string): IpAddress {
  if (process.getBuiltinModule('node:net').isIP(host) === 4) return { tag: 'ipv4', val: host.split('.').map(Number) as [number, number, number, number] };
  return { tag: 'ipv6', val: ipv6Groups(host) };
}

function socketAddress(host: string, port: number): SocketAddress {
  const ip = ipAddress(host);
  return ip.tag === 'ipv4' ? { tag: 'ipv4', val: { port, address: ip.val } } : { tag: 'ipv6', val: { port, address: ip.val, flowInfo: 0, scopeId: 0 } };
}

function isUnspecified(addr: SocketAddress): boolean {
  return (addr.val.address as readonly number[]).every((n) => n === 0);
}

export interface SocketsHost {
  readonly interfaces: Record<string, Record<string, unknown>>;
  /** Closes every socket and ends the helper thread. */
  close(): void;
}

type LinkRequest = Parameters<SocketLink['request']>[0];

export function createSockets(state: HostState, io: Io): SocketsHost {
  let link: SocketLink | undefined;
  /**
   * IP → the names host lookups resolved to it. The host did the resolving, so an address a lookup
   * of an allowed name returned may be used under that name's grant; an address the guest merely
   * claims a name has is still checked literally.
   */
  const resolvedNames = new Map<string, Set<string>>();

  function helper(): SocketLink {
    if (link === undefined || link.isClosed) {
      try {
        link = SocketLink.start([], { checkInterrupt: () => state.interrupt(), remainingMs: () => state.options.remainingMs() });
      } catch (err) {
        throw state.stoppedBy ?? state.stop(err as Error);
      }
    }
    return link;
  }

  /** A helper request; a dead helper or a deadline ends the guest. */
  function ask(body: LinkRequest): Reply {
    const l = helper();
    try {
      return l.request(body);
    } catch (err) {
      throw state.stoppedBy ?? state.stop(err as Error);
    }
  }

  /** Waits one slice for the helper to report a change after `seq`. */
  function waitEvent(seq: number, ms: number): void {
    try {
      helper().waitEvent(seq, ms);
    } catch (err) {
      throw state.stoppedBy ?? state.stop(err as Error);
    }
  }

  function allows(host: string, port: number | undefined): boolean {
    if (networkAllows(state.caps.network, host, port)) return true;
    const names = resolvedNames.get(host);
    return names !== undefined && [...names].some((name) => networkAllows(state.caps.network, name, port));
  }

  /** The WIT error for an address outside the policy, reported as a violation too. */
  function check(addr: SocketAddress, what: string): void {
    const host = hostOf(addr);
    if (!allows(host, addr.val.port)) {
      state.violation('network', `${what} ${host}:${addr.val.port} refused by the network policy`);
      throw 'access-denied';
    }
  }

  /** Holds one host socket against io.maxNetworkConnections. */
  function reserve(): void {
    const max = state.limits.io.maxNetworkConnections;
    if (max !== null && state.networkConnections >= max) throw 'new-socket-limit';
    state.networkConnections++;
  }

  function release(): void {
    state.networkConnections--;
  }

  /** A connection's receiving side; EOF is the stream's `closed`. */
  function source(sock: number): ByteSource {
    let seq = 0;
    return {
      read(len: number): Uint8Array | undefined {
        const r = ask({ op: 'recv', sock, max: state.readAllowance(len) || 1, peek: false });
        if (r.code === 'EAGAIN') return new Uint8Array(0);
        if (r.code !== undefined) throw new Error(`socket receive failed: ${errorCode(r.code)}`);
        const data = r.data ?? new Uint8Array(0);
        if (data.length === 0) return undefined;
        state.countRead(data.length);
        return data;
      },
      ready(): boolean {
        seq = helper().seq();
        const r = ask({ op: 'poll', items: [{ kind: 'conn', id: sock, write: false }] });
        return r.readiness?.[0]?.ready ?? true;
      },
      block(ms: number): void {
        waitEvent(seq, ms);
      },
    };
  }

  /** A connection's sending side; writes wait (deadline-aware) while Node's buffer drains. */
  function sink(sock: number, socket: { sendClosed: boolean }): ByteSink {
    return {
      write(bytes: Uint8Array): void {
        state.countWrite(bytes.length);
        for (;;) {
          const seq = helper().seq();
          const r = ask({ op: 'send', sock, data: bytes.slice() });
          if (r.code === 'EAGAIN') {
            waitEvent(seq, Infinity);
            continue;
          }
          if (r.code !== undefined) throw new Error(`socket send failed: ${errorCode(r.code)}`);
          return;
        }
      },
      capacity: () => 64 * 1024,
      get closed() {
        return socket.sendClosed;
      },
    };
  }

  class Network {}

  type TcpState = 'unbound' | 'bound' | 'connecting' | 'connected' | 'listening' | 'closed';

  class TcpSocket {
    readonly #family: string;
    #state: TcpState = 'unbound';
    #pending: 'bind' | 'connect' | 'listen' | undefined;
    #local: SocketAddress | undefined;
    #sock: number | undefined;
    #listener: number | undefined;
    #counted = false;
    #backlog = 128;
    readonly #flags = { sendClosed: false };

    constructor(family: string) {
      this.#family = family;
    }

    static accepted(family: string, sock: number): TcpSocket {
      const s = new TcpSocket(family);
      s.#state = 'connected';
      s.#sock = sock;
      s.#counted = true;
      return s;
    }

    #checkFamily(addr: SocketAddress): void {
      if (addr.tag !== this.#family) throw 'invalid-argument';
    }

    #streams(): [object, object] {
      const sock = this.#sock as number;
      return [new io.InputStream(source(sock)), new io.OutputStream(sink(sock, this.#flags))];
    }

    /** Gives the host socket back: the helper closes it (flushing what was sent), the count drops. */
    #dispose(): void {
      if (this.#sock !== undefined) link?.post({ op: 'close', sock: this.#sock });
      if (this.#listener !== undefined) link?.post({ op: 'close-listener', listener: this.#listener });
      this.#sock = undefined;
      this.#listener = undefined;
      this.#flags.sendClosed = true;
      if (this.#counted) release();
      this.#counted = false;
    }

    #info(): Reply {
      return ask({ op: 'conn-info', sock: this.#sock as number });
    }

    startBind(_network: Network, local: SocketAddress): void {
      if (this.#pending !== undefined) throw 'concurrency-conflict';
      if (this.#state !== 'unbound') throw 'invalid-state';
      this.#checkFamily(local);
      check(local, 'tcp bind to');
      this.#local = local;
      this.#pending = 'bind';
    }
    finishBind(): void {
      if (this.#pending !== 'bind') throw 'not-in-progress';
      this.#pending = undefined;
      this.#state = 'bound';
    }
    startConnect(_network: Network, remote: SocketAddress): void {
      if (this.#pending !== undefined) throw 'concurrency-conflict';
      if (this.#state !== 'unbound' && this.#state !== 'bound') throw 'invalid-state';
      this.#checkFamily(remote);
      check(remote, 'tcp connect to');
      if (remote.val.port === 0 || isUnspecified(remote)) throw 'invalid-argument';
      reserve();
      const local = this.#local;
      const r = ask({
        op: 'connect', host: hostOf(remote), port: remote.val.port,
        localHost: local === undefined ? undefined : hostOf(local), localPort: local === undefined || local.val.port === 0 ? undefined : local.val.port,
      });
      if (r.code !== undefined || r.sock === undefined) {
        release();
        throw errorCode(r.code ?? 'EIO');
      }
      this.#counted = true;
      this.#sock = r.sock;
      this.#state = 'connecting';
      this.#pending = 'connect';
    }
    finishConnect(): [object, object] {
      if (this.#pending !== 'connect') throw 'not-in-progress';
      const r = this.#info();
      if (r.code !== undefined) {
        this.#pending = undefined;
        this.#state = 'closed';
        this.#dispose();
        throw errorCode(r.code);
      }
      if (r.connecting === true) throw 'would-block';
      this.#pending = undefined;
      this.#state = 'connected';
      return this.#streams();
    }
    startListen(): void {
      if (this.#pending !== undefined) throw 'concurrency-conflict';
      if (this.#state !== 'bound' || this.#local === undefined) throw 'invalid-state';
      reserve();
      const r = ask({ op: 'listen', host: hostOf(this.#local), port: this.#local.val.port, backlog: this.#backlog });
      if (r.code !== undefined || r.listener === undefined) {
        release();
        throw errorCode(r.code ?? 'EIO');
      }
      this.#counted = true;
      this.#listener = r.listener;
      const bound = r.addresses?.[0];
      if (bound !== undefined) this.#local = socketAddress(bound.host, bound.port);
      this.#state = 'listening';
      this.#pending = 'listen';
    }
    finishListen(): void {
      if (this.#pending !== 'listen') throw 'not-in-progress';
      this.#pending = undefined;
    }
    accept(): [TcpSocket, object, object] {
      if (this.#state !== 'listening' || this.#listener === undefined) throw 'invalid-state';
      reserve();
      const r = ask({ op: 'accept', listener: this.#listener });
      if (r.code !== undefined || r.sock === undefined) {
        release();
        throw errorCode(r.code ?? 'EIO');
      }
      const s = TcpSocket.accepted(this.#family, r.sock);
      const [input, output] = s.#streams();
      return [s, input, output];
    }
    localAddress(): SocketAddress {
      if (this.#state === 'connected') {
        const r = this.#info();
        if (r.local !== undefined) return socketAddress(r.local.host, r.local.port);
      }
      if (this.#local !== undefined && this.#pending !== 'bind') return this.#local;
      throw 'invalid-state';
    }
    remoteAddress(): SocketAddress {
      if (this.#state !== 'connected') throw 'invalid-state';
      const r = this.#info();
      if (r.remote === undefined) throw 'invalid-state';
      return socketAddress(r.remote.host, r.remote.port);
    }
    isListening(): boolean {
      return this.#state === 'listening';
    }
    addressFamily(): string {
      return this.#family;
    }
    setListenBacklogSize(value: bigint): void {
      if (value === 0n) throw 'invalid-argument';
      if (this.#state === 'listening') throw 'not-supported';
      this.#backlog = Number(value > 1024n ? 1024n : value);
    }
    keepAliveEnabled(): boolean {
      return false;
    }
    setKeepAliveEnabled(): void {}
    keepAliveIdleTime(): bigint {
      return 7_200_000_000_000n;
    }
    setKeepAliveIdleTime(): void {}
    keepAliveInterval(): bigint {
      return 75_000_000_000n;
    }
    setKeepAliveInterval(): void {}
    keepAliveCount(): number {
      return 9;
    }
    setKeepAliveCount(): void {}
    hopLimit(): number {
      return 64;
    }
    setHopLimit(): void {}
    receiveBufferSize(): bigint {
      return 65536n;
    }
    setReceiveBufferSize(): void {}
    sendBufferSize(): bigint {
      return 65536n;
    }
    setSendBufferSize(): void {}
    subscribe(): InstanceType<Io['Pollable']> {
      let seq = 0;
      const block = (ms: number): void => waitEvent(seq, ms);
      if (this.#state === 'connecting' && this.#sock !== undefined) {
        const sock = this.#sock;
        return new io.Pollable({
          ready: () => {
            seq = helper().seq();
            const r = ask({ op: 'conn-info', sock });
            return r.code !== undefined || r.connecting !== true;
          },
          waitMs: () => Infinity,
          block,
        });
      }
      if (this.#state === 'listening' && this.#listener !== undefined) {
        const id = this.#listener;
        return new io.Pollable({
          ready: () => {
            seq = helper().seq();
            return ask({ op: 'poll', items: [{ kind: 'listener', id, write: false }] }).readiness?.[0]?.ready ?? true;
          },
          waitMs: () => Infinity,
          block,
        });
      }
      return new io.Pollable();
    }
    shutdown(type: ShutdownType): void {
      if (this.#state !== 'connected' || this.#sock === undefined) throw 'invalid-state';
      const how = type === 'receive' ? SHUT_RD : type === 'send' ? SHUT_WR : SHUT_RD | SHUT_WR;
      const r = ask({ op: 'shutdown', sock: this.#sock, how });
      if (r.code !== undefined) throw errorCode(r.code);
      if (how & SHUT_WR) this.#flags.sendClosed = true;
    }
    [Symbol.dispose](): void {
      this.#dispose();
    }
  }

  class UdpSocket {
    readonly #family: string;
    #bound = false;
    #binding = false;
    #sock: number | undefined;
    #local: SocketAddress | undefined;
    #remote: SocketAddress | undefined;
    #counted = false;
    constructor(family: string) {
      this.#family = family;
    }
    #checkFamily(addr: SocketAddress): void {
      if (addr.tag !== this.#family) throw 'invalid-argument';
    }
    startBind(_network: Network, local: SocketAddress): void {
      if (this.#binding) throw 'concurrency-conflict';
      if (this.#sock !== undefined) throw 'invalid-state';
      this.#checkFamily(local);
      check(local, 'udp bind to');
      reserve();
      const r = ask({ op: 'udp-bind', host: hostOf(local), port: local.val.port, ipv6: this.#family === 'ipv6' });
      if (r.code !== undefined || r.sock === undefined) {
        release();
        throw errorCode(r.code ?? 'EIO');
      }
      this.#counted = true;
      this.#sock = r.sock;
      this.#local = r.local === undefined ? local : socketAddress(r.local.host, r.local.port);
      this.#binding = true;
    }
    finishBind(): void {
      if (!this.#binding) throw 'not-in-progress';
      this.#binding = false;
      this.#bound = true;
    }
    /** Fresh streams; with `remote` only that peer's datagrams arrive and sends default to it. */
    stream(remote: SocketAddress | undefined): [IncomingDatagramStream, OutgoingDatagramStream] {
      if (!this.#bound || this.#sock === undefined) throw 'invalid-state';
      if (remote !== undefined) {
        this.#checkFamily(remote);
        check(remote, 'udp send to');
        if (remote.val.port === 0 || isUnspecified(remote)) throw 'invalid-argument';
      }
      const r = ask({ op: 'udp-connect', sock: this.#sock, remote: remote === undefined ? undefined : { host: hostOf(remote), port: remote.val.port } });
      if (r.code !== undefined) throw errorCode(r.code);
      this.#remote = remote;
      return [new IncomingDatagramStream(this.#sock), new OutgoingDatagramStream(this.#sock, this.#family, remote)];
    }
    localAddress(): SocketAddress {
      if (!this.#bound || this.#local === undefined) throw 'invalid-state';
      return this.#local;
    }
    remoteAddress(): SocketAddress {
      if (this.#remote === undefined) throw 'invalid-state';
      return this.#remote;
    }
    addressFamily(): string {
      return this.#family;
    }
    unicastHopLimit(): number {
      return 64;
    }
    setUnicastHopLimit(): void {}
    receiveBufferSize(): bigint {
      return 65536n;
    }
    setReceiveBufferSize(): void {}
    sendBufferSize(): bigint {
      return 65536n;
    }
    setSendBufferSize(): void {}
    subscribe(): InstanceType<Io['Pollable']> {
      // Binding completes inside start-bind, so there is never anything to wait for.
      return new io.Pollable();
    }
    [Symbol.dispose](): void {
      if (this.#sock !== undefined) link?.post({ op: 'udp-close', sock: this.#sock });
      this.#sock = undefined;
      this.#bound = false;
      if (this.#counted) release();
      this.#counted = false;
    }
  }

  class IncomingDatagramStream {
    readonly #sock: number;
    #seq = 0;
    constructor(sock: number) {
      this.#sock = sock;
    }
    receive(maxResults: bigint): { data: Uint8Array; remoteAddress: SocketAddress }[] {
      if (maxResults === 0n) return [];
      const max = Number(maxResults > BigInt(DATAGRAM_BATCH) ? BigInt(DATAGRAM_BATCH) : maxResults);
      const r = ask({ op: 'udp-recv', sock: this.#sock, max });
      if (r.code !== undefined) throw errorCode(r.code);
      return (r.datagrams ?? []).map((d) => {
        state.countRead(d.data.length);
        return { data: d.data, remoteAddress: socketAddress(d.host, d.port) };
      });
    }
    subscribe(): InstanceType<Io['Pollable']> {
      const sock = this.#sock;
      return new io.Pollable({
        ready: () => {
          this.#seq = helper().seq();
          return ask({ op: 'poll', items: [{ kind: 'udp', id: sock, write: false }] }).readiness?.[0]?.ready ?? true;
        },
        waitMs: () => Infinity,
        block: (ms) => waitEvent(this.#seq, ms),
      });
    }
  }

  class OutgoingDatagramStream {
    readonly #sock: number;
    readonly #family: string;
    readonly #remote: SocketAddress | undefined;
    constructor(sock: number, family: string, remote: SocketAddress | undefined) {
      this.#sock = sock;
      this.#family = family;
      this.#remote = remote;
    }
    checkSend(): bigint {
      return BigInt(DATAGRAM_BATCH);
    }
    /** The destination of one datagram, or the WIT error that stops the batch there. */
    #destination(given: SocketAddress | undefined): SocketAddress {
      const remote = this.#remote;
      const dest = given ?? remote;
      if (dest === undefined || dest.tag !== this.#family) throw 'invalid-argument';
      if (remote !== undefined && given !== undefined && (hostOf(given) !== hostOf(remote) || given.val.port !== remote.val.port)) throw 'invalid-argument';
      check(dest, 'udp send to');
      if (dest.val.port === 0 || isUnspecified(dest)) throw 'invalid-argument';
      return dest;
    }
    /**
     * Sends up to DATAGRAM_BATCH datagrams in order. A datagram that is refused ends the batch: the
     * ones before it are sent and counted, and the refusal is the error only when it is the first.
     */
    send(datagrams: { data: Uint8Array; remoteAddress: SocketAddress | undefined }[]): bigint {
      const out: Datagram[] = [];
      let refusal: unknown;
      for (const d of datagrams.slice(0, DATAGRAM_BATCH)) {
        try {
          const dest = this.#destination(d.remoteAddress);
          if (d.data.length > (this.#family === 'ipv4' ? 65_507 : 65_527)) throw 'datagram-too-large';
          out.push({ data: d.data, host: hostOf(dest), port: dest.val.port });
        } catch (err) {
          refusal = err;
          break;
        }
      }
      if (out.length === 0) {
        if (refusal !== undefined) throw refusal;
        return 0n;
      }
      state.countWrite(out.reduce((n, d) => n + d.data.length, 0));
      const r = ask({ op: 'udp-send', sock: this.#sock, datagrams: out });
      const n = r.n ?? 0;
      if (r.code !== undefined && n === 0) throw errorCode(r.code);
      return BigInt(n);
    }
    subscribe(): InstanceType<Io['Pollable']> {
      // Sending never waits for room: Node queues the datagram and the kernel drops what it cannot take.
      return new io.Pollable();
    }
  }

  class ResolveAddressStream {
    #lookup: number | undefined;
    #name: string;
    #results: IpAddress[] | undefined;
    #error: string | undefined;
    #seq = 0;
    constructor(name: string, lookup: number | undefined, results: IpAddress[] | undefined) {
      this.#name = name;
      this.#lookup = lookup;
      this.#results = results;
    }
    /** Whether the lookup is over; fetches its answer from the helper when it is. */
    #settled(): boolean {
      if (this.#results !== undefined || this.#error !== undefined) return true;
      this.#seq = helper().seq();
      const r = ask({ op: 'lookup-result', lookup: this.#lookup as number });
      if (r.code === 'EAGAIN') return false;
      this.#lookup = undefined;
      if (r.code !== undefined) {
        this.#error = errorCode(r.code);
        return true;
      }
      const hosts = (r.addresses ?? []).map((a) => a.host);
      for (const host of hosts) {
        let names = resolvedNames.get(host);
        if (names === undefined) resolvedNames.set(host, (names = new Set()));
        names.add(this.#name);
      }
      this.#results = hosts.map(ipAddress);
      return true;
    }
    resolveNextAddress(): IpAddress | undefined {
      if (!this.#settled()) throw 'would-block';
      if (this.#error !== undefined) {
        const e = this.#error;
        this.#error = undefined;
        this.#results = [];
        throw e;
      }
      return this.#results?.shift();
    }
    subscribe(): InstanceType<Io['Pollable']> {
      return new io.Pollable({ ready: () => this.#settled(), waitMs: () => Infinity, block: (ms) => waitEvent(this.#seq, ms) });
    }
    [Symbol.dispose](): void {
      if (this.#lookup !== undefined) link?.post({ op: 'forget-lookup', lookup: this.#lookup });
      this.#lookup = undefined;
    }
  }

  for (const cls of [Network, TcpSocket, UdpSocket, IncomingDatagramStream, OutgoingDatagramStream, ResolveAddressStream]) guardClass(cls, state);

  function resolveAddresses(_network: Network, name: string): ResolveAddressStream {
    if (!networkAllows(state.caps.network, name, undefined)) {
      state.violation('network', `name lookup of '${name}' refused by the network policy`);
      throw 'access-denied';
    }
    const literal = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
    if (process.getBuiltinModule('node:net').isIP(literal) !== 0) return new ResolveAddressStream(name, undefined, [ipAddress(literal)]);
    if (name.length === 0 || name.length > 253) throw 'invalid-argument';
    const r = ask({ op: 'lookup', name });
    if (r.code !== undefined || r.lookup === undefined) throw errorCode(r.code ?? 'EIO');
    return new ResolveAddressStream(name.toLowerCase().replace(/\.$/, ''), r.lookup, undefined);
  }

  return {
    interfaces: {
      'wasi:sockets/network': { Network, ...guardFunctions({ networkErrorCode: (): undefined => undefined }, state) },
      'wasi:sockets/instance-network': guardFunctions({ instanceNetwork: () => new Network() }, state),
      'wasi:sockets/tcp': { TcpSocket },
      'wasi:sockets/tcp-create-socket': guardFunctions({
        createTcpSocket: (family: string) => {
          if (family !== 'ipv4' && family !== 'ipv6') throw 'not-supported';
          return new TcpSocket(family);
        },
      }, state),
      'wasi:sockets/udp': { UdpSocket, IncomingDatagramStream, OutgoingDatagramStream },
      'wasi:sockets/udp-create-socket': guardFunctions({
        createUdpSocket: (family: string) => {
          if (family !== 'ipv4' && family !== 'ipv6') throw 'not-supported';
          return new UdpSocket(family);
        },
      }, state),
      'wasi:sockets/ip-name-lookup': { ResolveAddressStream, ...guardFunctions({ resolveAddresses }, state) },
    },
    close(): void {
      link?.close();
      link = undefined;
    },
  };
}
