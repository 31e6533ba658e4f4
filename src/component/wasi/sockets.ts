/**
 * wasi:sockets: every address is checked against the grant's network policy and a refusal is the
 * WIT `access-denied` error, never a trap. This host performs no socket I/O itself (Node offers no
 * synchronous sockets for a guest's thread): an allowed address gets `not-supported`, so a grant
 * never silently becomes more than what is implemented. Outgoing HTTP is served by wasi:http.
 */
import { guardClass, guardFunctions, type HostState } from './host-state.ts';
import { networkAllows } from './network-policy.ts';
import type { Io } from './io.ts';

type SocketAddress =
  | { tag: 'ipv4'; val: { port: number; address: [number, number, number, number] } }
  | { tag: 'ipv6'; val: { port: number; address: number[]; flowInfo: number; scopeId: number } };

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

export function createSockets(state: HostState, io: Io): Record<string, Record<string, unknown>> {
  function check(addr: SocketAddress, what: string): never {
    const host = hostOf(addr);
    if (!networkAllows(state.caps.network, host, addr.val.port)) {
      state.violation('network', `${what} ${host}:${addr.val.port} refused by the network policy`);
      throw 'access-denied';
    }
    throw 'not-supported';
  }

  class Network {}

  class TcpSocket {
    readonly #family: string;
    constructor(family: string) {
      this.#family = family;
    }
    startBind(_network: Network, local: SocketAddress): void {
      check(local, 'tcp bind to');
    }
    finishBind(): void {
      throw 'not-in-progress';
    }
    startConnect(_network: Network, remote: SocketAddress): void {
      check(remote, 'tcp connect to');
    }
    finishConnect(): never {
      throw 'not-in-progress';
    }
    startListen(): void {
      throw 'invalid-state';
    }
    finishListen(): void {
      throw 'not-in-progress';
    }
    accept(): never {
      throw 'invalid-state';
    }
    localAddress(): never {
      throw 'invalid-state';
    }
    remoteAddress(): never {
      throw 'invalid-state';
    }
    isListening(): boolean {
      return false;
    }
    addressFamily(): string {
      return this.#family;
    }
    setListenBacklogSize(): void {
      throw 'not-supported';
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
      return new io.Pollable();
    }
    shutdown(): void {
      throw 'invalid-state';
    }
  }

  class UdpSocket {
    readonly #family: string;
    constructor(family: string) {
      this.#family = family;
    }
    startBind(_network: Network, local: SocketAddress): void {
      check(local, 'udp bind to');
    }
    finishBind(): void {
      throw 'not-in-progress';
    }
    stream(remote: SocketAddress | undefined): never {
      if (remote) check(remote, 'udp send to');
      throw 'invalid-state';
    }
    localAddress(): never {
      throw 'invalid-state';
    }
    remoteAddress(): never {
      throw 'invalid-state';
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
      return new io.Pollable();
    }
  }

  class IncomingDatagramStream {}
  class OutgoingDatagramStream {}
  class ResolveAddressStream {
    resolveNextAddress(): undefined {
      return undefined;
    }
    subscribe(): InstanceType<Io['Pollable']> {
      return new io.Pollable();
    }
  }

  for (const cls of [Network, TcpSocket, UdpSocket, IncomingDatagramStream, OutgoingDatagramStream, ResolveAddressStream]) guardClass(cls, state);

  function resolveAddresses(_network: Network, name: string): never {
    if (!networkAllows(state.caps.network, name, undefined)) {
      state.violation('network', `name lookup of '${name}' refused by the network policy`);
      throw 'access-denied';
    }
    throw 'not-supported';
  }

  return {
    'wasi:sockets/network': { Network, ...guardFunctions({ networkErrorCode: (): undefined => undefined }, state) },
    'wasi:sockets/instance-network': guardFunctions({ instanceNetwork: () => new Network() }, state),
    'wasi:sockets/tcp': { TcpSocket },
    'wasi:sockets/tcp-create-socket': guardFunctions({ createTcpSocket: (family: string) => new TcpSocket(family) }, state),
    'wasi:sockets/udp': { UdpSocket, IncomingDatagramStream, OutgoingDatagramStream },
    'wasi:sockets/udp-create-socket': guardFunctions({ createUdpSocket: (family: string) => new UdpSocket(family) }, state),
    'wasi:sockets/ip-name-lookup': { ResolveAddressStream, ...guardFunctions({ resolveAddresses }, state) },
  };
}
