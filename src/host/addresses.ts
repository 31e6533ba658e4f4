/**
 * IP addresses as the network check sees them: parsed once into bytes, written in one canonical
 * text form (an IPv4-mapped IPv6 address is its IPv4 address), and classified by scope, so that
 * `::ffff:127.0.0.1`, `0:0:0:0:0:0:0:1` and `127.0.0.1` can never be told apart by spelling.
 */

/** Where an address leads. Only `public` addresses are reachable through a host name's grant. */
export type AddressScope = 'public' | 'loopback' | 'private' | 'link-local' | 'unique-local' | 'unspecified' | 'multicast' | 'reserved';

export interface IpAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

function parseV4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    // Decimal only, no leading zeros: inet_aton's octal and hex forms are exactly what smuggles addresses past text checks.
    if (!/^(0|[1-9]\d{0,2})$/.test(parts[i]) || Number(parts[i]) > 255) return undefined;
    bytes[i] = Number(parts[i]);
  }
  return bytes;
}

function parseV6(text: string): Uint8Array | undefined {
  let t = text;
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  let tail: Uint8Array | undefined;
  const lastColon = t.lastIndexOf(':');
  if (lastColon >= 0 && t.includes('.', lastColon)) {
    tail = parseV4(t.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    t = `${t.slice(0, lastColon + 1)}0:0`;
  }
  const halves = t.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || rest === undefined) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...rest];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  if (tail) bytes.set(tail, 12);
  return bytes;
}

/** An IP address literal (IPv6 with or without brackets or a zone), or undefined for anything else. */
export function parseIp(text: string): IpAddress | undefined {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseV4(t);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = t.includes(':') ? parseV6(t) : undefined;
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

function isMapped(b: Uint8Array): boolean {
  return b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** The IPv4 address an IPv4-mapped IPv6 address stands for; other addresses unchanged. */
function unmapped(ip: IpAddress): IpAddress {
  return ip.family === 6 && isMapped(ip.bytes) ? { family: 4, bytes: ip.bytes.slice(12) } : ip;
}

/** The eight 16-bit groups of an IPv6 address. */
export function ipv6Groups(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < 16; i += 2) out.push((bytes[i] << 8) | bytes[i + 1]);
  return out;
}

/** The canonical text of an IPv6 address (RFC 5952): lowercase, the longest run of two or more zero groups as `::`. */
export function formatIpv6(groups: readonly number[]): string {
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

/** The one text form of an address: dotted IPv4 (mapped addresses included) or RFC 5952 IPv6; undefined for a non-address. */
export function canonicalIp(text: string): string | undefined {
  const parsed = parseIp(text);
  if (parsed === undefined) return undefined;
  const ip = unmapped(parsed);
  return ip.family === 4 ? ip.bytes.join('.') : formatIpv6(ipv6Groups(ip.bytes));
}

function v4Scope(b: Uint8Array): AddressScope {
  const [a, c] = [b[0], b[1]];
  if (a === 0) return b.every((x) => x === 0) ? 'unspecified' : 'reserved';
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && c >= 16 && c <= 31) || (a === 192 && c === 168) || (a === 100 && c >= 64 && c <= 127)) return 'private';
  if (a === 169 && c === 254) return 'link-local';
  if (a >= 224 && a <= 239) return 'multicast';
  if (a >= 240) return 'reserved';
  // IETF assignments, documentation, the 6to4 relay and benchmarking ranges route nowhere public.
  if (a === 192 && c === 0 && (b[2] === 0 || b[2] === 2)) return 'reserved';
  if ((a === 198 && c === 51 && b[2] === 100) || (a === 203 && c === 0 && b[2] === 113)) return 'reserved';
  if (a === 192 && c === 88 && b[2] === 99) return 'reserved';
  if (a === 198 && (c === 18 || c === 19)) return 'reserved';
  return 'public';
}

function v6Scope(b: Uint8Array): AddressScope {
  const g = ipv6Groups(b);
  if (g.every((x) => x === 0)) return 'unspecified';
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return 'loopback';
  // Addresses that carry an IPv4 address lead where that address leads: NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return v4Scope(b.subarray(12));
  if (g[0] === 0x2002) return v4Scope(b.subarray(2, 6));
  if ((g[0] & 0xfe00) === 0xfc00) return 'unique-local';
  if ((g[0] & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0] & 0xffc0) === 0xfec0) return 'private';
  if ((g[0] & 0xff00) === 0xff00) return 'multicast';
  // Global unicast is 2000::/3; inside it, IETF protocol assignments (Teredo among them) and documentation are not public.
  if ((g[0] & 0xe000) !== 0x2000) return 'reserved';
  if (g[0] === 0x2001 && (g[1] < 0x200 || g[1] === 0xdb8)) return 'reserved';
  return 'public';
}

/** The scope of an address literal; undefined when `text` is not one. */
export function addressScope(text: string): AddressScope | undefined {
  const parsed = parseIp(text);
  if (parsed === undefined) return undefined;
  const ip = unmapped(parsed);
  return ip.family === 4 ? v4Scope(ip.bytes) : v6Scope(ip.bytes);
}

/** A host name as compared: lowercase, without brackets or a trailing dot. */
export function normalHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/**
 * Whether a host (an address literal or a name) means this machine: any loopback address, mapped
 * forms included, or `localhost` and the names under it (RFC 6761).
 */
export function isLoopback(host: string): boolean {
  const h = normalHost(host);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  return addressScope(h) === 'loopback';
}
