/**
 * Where every network grant is decided: one check, called by every ABI and wrapper with what the
 * guest is about to do and the address it would really use (after the host resolved any name), in
 * the manner of wasmtime's `SocketAddrCheck`. Deny by default.
 *
 * - `'none'` grants nothing; `'unrestricted'` everything.
 * - `'loopback'` grants loopback addresses (127.0.0.0/8, ::1, their IPv4-mapped forms) and looking
 *   up `localhost` (whose answers are then still checked: only loopback ones are usable).
 * - An allow list holds `host:port`, `host:*` or `*.example.com:port` (subdomains only; a bare `host`
 *   means any port). An entry whose host is an address literal grants that address, whatever its
 *   scope. An entry whose host is a name grants looking the name up, and using the name's answers
 *   only when they are public addresses: a name that resolves to 127.0.0.1, 10.0.0.1, 169.254.169.254,
 *   fc00::/7 or `::ffff:192.168.0.1` gives nothing, so a DNS answer can never open the host's own
 *   network to the guest. The one exception is `localhost`, whose loopback answers it grants.
 * - The peer of an accepted connection or of a received datagram must be an address the grant lets
 *   the guest reach (on any port): a listener granted on `127.0.0.1` serves loopback peers only. A
 *   literal grant of the unspecified address (`0.0.0.0`, `[::]`) means "listen for everyone" and
 *   admits every peer.
 */
import type { NetworkPolicy } from '../security/capabilities.ts';
import { addressScope, canonicalIp, isLoopback, normalHost } from './addresses.ts';

/** What the guest is about to do with an address. */
export type AddressUse = 'connect' | 'bind' | 'listen' | 'accept' | 'send-to' | 'receive-from' | 'http';

export type NetworkRequest =
  /**
   * Resolving a name (the lookup itself, before any answer is used); with `port`, for use on that
   * port only (outgoing HTTP asks before it resolves the authority).
   */
  | { use: 'lookup'; name: string; port?: number }
  /**
   * Using `address` (an address literal, as resolved) and `port`. `names` are the host names the
   * host itself resolved to this address for the guest; a name the guest merely claims counts for nothing.
   */
  | { use: AddressUse; address: string; port: number; names?: readonly string[] };

export type NetworkVerdict = { allowed: true } | { allowed: false; detail: string };

const WORDS: Record<NetworkRequest['use'], string> = {
  connect: 'connecting to', bind: 'binding to', listen: 'listening on', accept: 'accepting a connection from',
  'send-to': 'sending to', 'receive-from': 'receiving from', http: 'HTTP to', lookup: 'looking up',
};

/** `host:port` with IPv6 in brackets, as the network policy and messages write addresses. */
export function formatHostPort(host: string, port: number): string {
  const h = normalHost(host);
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

/** Splits `host:port` (IPv6 in brackets); port is undefined when absent. */
function splitHostPort(entry: string): { host: string; port: string | undefined } {
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(entry);
  if (v6) return { host: v6[1], port: v6[2] };
  const i = entry.lastIndexOf(':');
  if (i < 0 || entry.indexOf(':') !== i) return { host: entry, port: undefined };
  return { host: entry.slice(0, i), port: entry.slice(i + 1) };
}

interface Entry {
  /** The canonical address of a literal entry. */
  address: string | undefined;
  /** The name pattern of a name entry (lowercase; `*.x` for subdomains of x). */
  name: string | undefined;
  /** undefined: any port. */
  port: number | undefined;
}

const parsed = new WeakMap<object, Entry[]>();

function entries(policy: { readonly allow: readonly string[] }): Entry[] {
  let list = parsed.get(policy);
  if (list === undefined) {
    list = policy.allow.map((text) => {
      const { host, port } = splitHostPort(text.trim());
      const address = canonicalIp(host);
      return {
        address,
        name: address === undefined ? normalHost(host) : undefined,
        port: port === undefined || port === '*' ? undefined : /^\d{1,5}$/.test(port) ? Number(port) : NaN,
      };
    });
    parsed.set(policy, list);
  }
  return list;
}

function portMatches(e: Entry, port: number | undefined): boolean {
  return e.port === undefined || port === undefined || e.port === port;
}

function nameMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('*.')) return name.length > pattern.length - 1 && name.endsWith(pattern.slice(1));
  return pattern === name;
}

/** Whether a name's answer may be used under a grant of that name. */
function usableAnswer(name: string, address: string): boolean {
  const scope = addressScope(address);
  return scope === 'public' || (scope === 'loopback' && isLoopback(name) && addressScope(name) === undefined);
}

function lookupAllowed(policy: NetworkPolicy, name: string, port: number | undefined): boolean {
  if (policy === 'none') return false;
  if (policy === 'unrestricted') return true;
  const n = normalHost(name);
  if (n === '') return false;
  const literal = canonicalIp(n);
  if (policy === 'loopback') return literal === undefined ? isLoopback(n) : addressScope(literal) === 'loopback';
  return entries(policy).some((e) => portMatches(e, port) && (literal === undefined ? e.name !== undefined && nameMatches(e.name, n) : e.address === literal));
}

function addressAllowed(policy: NetworkPolicy, use: AddressUse, address: string, port: number, names: readonly string[]): boolean {
  if (policy === 'none') return false;
  if (policy === 'unrestricted') return true;
  const ip = canonicalIp(address);
  // Every use is of a real address; a name here would be resolved again by someone else, unchecked.
  if (ip === undefined) return false;
  const scope = addressScope(ip);
  if (policy === 'loopback') return scope === 'loopback';
  // A peer is not reached at a port of the guest's choosing: its address is what the grant must cover.
  const peer = use === 'accept' || use === 'receive-from';
  const wanted = peer ? undefined : port;
  const list = entries(policy);
  if (peer && list.some((e) => e.address !== undefined && addressScope(e.address) === 'unspecified')) return true;
  if (list.some((e) => e.address === ip && portMatches(e, wanted))) return true;
  return names.some((raw) => {
    const name = normalHost(raw);
    return usableAnswer(name, ip) && list.some((e) => e.name !== undefined && nameMatches(e.name, name) && portMatches(e, wanted));
  });
}

/**
 * The network check. Refusals carry a detail for the violation report, naming the use, the address
 * and the name it came from.
 */
export function checkNetwork(policy: NetworkPolicy, request: NetworkRequest): NetworkVerdict {
  if (request.use === 'lookup') {
    if (lookupAllowed(policy, request.name, request.port)) return { allowed: true };
    const forPort = request.port === undefined ? '' : ` for port ${request.port}`;
    return { allowed: false, detail: `${WORDS.lookup} '${request.name}'${forPort} refused by the network policy` };
  }
  const names = request.names ?? [];
  if (addressAllowed(policy, request.use, request.address, request.port, names)) return { allowed: true };
  const scope = addressScope(request.address);
  const via = names.length > 0 ? ` (resolved from ${names.map((n) => `'${n}'`).join(', ')}${scope !== 'public' && scope !== undefined ? `; a ${scope} address is granted only literally` : ''})` : '';
  return { allowed: false, detail: `${WORDS[request.use]} ${formatHostPort(request.address, request.port)}${via} refused by the network policy` };
}

/** The DNS servers a grant names for the guest's lookups; undefined means the system resolver. */
export function nameserversOf(policy: NetworkPolicy): string[] | undefined {
  return typeof policy === 'object' && policy.nameservers !== undefined ? [...policy.nameservers] : undefined;
}

/** The policy in a few words, for messages that explain a refusal. */
export function describePolicy(policy: NetworkPolicy): string {
  return typeof policy === 'string' ? `'${policy}'` : `allow [${policy.allow.join(', ')}]`;
}
