/**
 * Whether a grant's network policy lets a guest reach `host:port`. Entries of an allow list are
 * `host:port`, `*.example.com:port` (subdomains only) or `host:*`; hosts compare case-insensitively
 * and literally: a name is never resolved to check it, so an allowed name cannot be reached through
 * an IP address and vice versa.
 */
import type { NetworkPolicy } from '../../security/capabilities.ts';

function normaliseHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

export function isLoopback(host: string): boolean {
  const h = normaliseHost(host);
  if (h === 'localhost') return true;
  // node:net is loaded on first use: most runs never check a host.
  const { isIP } = process.getBuiltinModule('node:net');
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/** Splits `host:port` (IPv6 in brackets); port is undefined when absent. */
export function splitHostPort(entry: string): { host: string; port: string | undefined } {
  const v6 = /^\[([^\]]+)\](?::(.+))?$/.exec(entry);
  if (v6) return { host: v6[1], port: v6[2] };
  const i = entry.lastIndexOf(':');
  if (i < 0 || entry.indexOf(':') !== i) return { host: entry, port: undefined };
  return { host: entry.slice(0, i), port: entry.slice(i + 1) };
}

function entryAllows(entry: string, host: string, port: number | undefined): boolean {
  const { host: h, port: p } = splitHostPort(entry);
  if (port !== undefined && p !== undefined && p !== '*' && Number(p) !== port) return false;
  const pattern = normaliseHost(h);
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

/** `port` undefined asks whether any port of the host is allowed (name lookups). */
export function networkAllows(policy: NetworkPolicy, host: string, port: number | undefined): boolean {
  if (policy === 'none') return false;
  if (policy === 'unrestricted') return true;
  if (policy === 'loopback') return isLoopback(host);
  const h = normaliseHost(host);
  return policy.allow.some((entry) => entryAllows(entry, h, port));
}
