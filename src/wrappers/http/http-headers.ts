/**
 * Which headers pass between the client and a guest. Hop-by-hop headers belong to the server's
 * connection, not to the guest's request or response; the body's framing is the server's to decide
 * (it knows when a response is complete and can give its length).
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'content-length']);

/** Whether a header (lower-case name) is the server's to set, never the guest's. */
export function isHopByHop(lower: string): boolean {
  return HOP_BY_HOP.has(lower);
}

/** The client's headers as the guest sees them, from Node's raw pairs (which keep spelling and repeats); `host` becomes the authority. */
export function guestRequestHeaders(raw: readonly string[]): [string, string][] {
  const headers: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (lower !== 'host' && !HOP_BY_HOP.has(lower)) headers.push([raw[i], raw[i + 1]]);
  }
  return headers;
}

/** The guest's response headers as a flat [name, value, …] list for `writeHead`. */
export function clientResponseHeaders(headers: readonly (readonly [string, string])[]): string[] {
  const out: string[] = [];
  for (const [name, value] of headers) if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, value);
  return out;
}

/** Statuses whose responses never carry a body, so must not carry a length either. */
export function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}
