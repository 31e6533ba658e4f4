/**
 * wasi:sockets: every address is checked against the grant's network policy and a refusal is the
 * WIT `access-denied` error, never a trap. TCP (connect, bind + listen + accept, streams, shutdown)
 * and IP name lookup for allowed addresses are real: the preview1 socket helper (a worker thread
 * that owns the Node sockets) does the I/O, and the guest's thread waits for it with Atomics.wait in
 * slices that notice the call's deadline. The helper starts on first use and ends with the instance.
 * UDP is checked but not implemented: an allowed address gets `not-supported`.
 */
import { isIP } from 'node:net';
import { SocketLink } from '../../wasi/socket-link.ts';
import { SHUT_RD, SHUT_WR, type Reply } from '../../wasi/socket-protocol.ts';
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
  EAI_FAIL: 'permanent-resolver-failure',
};

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

