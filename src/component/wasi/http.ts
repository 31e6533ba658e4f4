/**
 * wasi:http (types, outgoing-handler). An outgoing request's scheme, authority and path-with-query
 * are validated as the WIT types define them (an authority is `host[:port]` without userinfo, a path
 * starts with `/`; anything else is `HTTP-request-URI-invalid`), and the request goes to exactly that
 * host and port: the parts are never pasted into a URL for something else to parse. The network
 * check (src/host/network.ts) sees it twice: before anything leaves the host (the address, or the
 * lookup of the name for that port), and, for a name, each resolved address before connecting, to
 * the one address that passed. A refusal is the WIT error `HTTP-request-denied`, which the guest
 * handles like any other failed request. Allowed requests are sent when the guest first waits for
 * the response, with the body written so far, through the blocking helper in sync-fetch; each holds
 * a place under io.maxNetworkConnections until its response has arrived (or the guest drops it unsent).
 * The incoming side (requests the host hands to a `wasi:http/incoming-handler` export, and the
 * response the guest sets) is built by `incoming()` for the embedder: either whole (the request body
 * given as bytes, the response collected once the handler returns) or streamed (the body read from a
 * ByteSource as the guest asks for it, the response handed to a ResponseSink as the guest produces it).
 */
import { WasmSandboxError } from '../../errors.ts';
import { guardClass, guardFunctions, type HostState } from './host-state.ts';
import type { ByteSink, ByteSource, Io } from './io.ts';
import { canonicalIp, normalHost, parseIp } from '../../host/addresses.ts';
import { nameserversOf } from '../../host/network.ts';
import { fetchSync, lookupSync, type FetchResult } from './sync-fetch.ts';

export type Method = { tag: 'get' | 'head' | 'post' | 'put' | 'delete' | 'connect' | 'options' | 'trace' | 'patch' } | { tag: 'other'; val: string };
export type Scheme = { tag: 'HTTP' | 'HTTPS' } | { tag: 'other'; val: string };
/** `wasi:http/types.error-code`, as jco represents the variant. */
export type HttpErrorCode = { tag: string; val?: unknown };

/** A request as the embedder describes it to `incoming()`. */
export interface HttpRequestInit {
  /** HTTP method; default `GET`. */
  method?: string;
  /** Path and query, e.g. `/search?q=1`. */
  path?: string;
  /** Scheme the component sees; default `http`. */
  scheme?: 'http' | 'https';
  /** Host and port the component sees, e.g. `example.com:8080`; default `localhost`. */
  authority?: string;
  /** Request headers, as pairs (repeats allowed) or an object. */
  headers?: Iterable<[string, string]> | Record<string, string>;
  /** Request body; empty by default. A string is sent as UTF-8. */
  body?: Uint8Array | string;
}

/** The response a component set through `wasi:http/incoming-handler`, its body read to the end. */
export interface HttpResponse {
  /** HTTP status code. */
  status: number;
  /** Response headers as pairs, in the order the component set them. */
  headers: [string, string][];
  /** The whole response body. */
  body: Uint8Array;
}

/** Where a streamed response goes, in order: the head once, then body bytes, then the end. */
export interface ResponseSink {
  /**
   * The guest set its response (`response-outparam.set`): its head, with the body it had written by
   * then, and `ended` when it had finished the body too (then nothing follows).
   */
  head(status: number, headers: [string, string][], body: readonly Uint8Array[], ended: boolean): void;
  /** Body bytes, in order; may block until the consumer has room for them. */
  body(bytes: Uint8Array): void;
  /** The body is complete: finished by the guest, or left unfinished when its handler returned. */
  end(): void;
}

/** How a streamed exchange's response stands. */
export type ResponseOutcome = { tag: 'unset' } | { tag: 'ok' } | { tag: 'err'; val: HttpErrorCode };

/** A streamed exchange: the request body comes from `body`, the response goes to `sink`. */
export interface HttpStreams {
  body: ByteSource;
  sink: ResponseSink;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
/** RFC 3986 path-absolute and query characters: pchar, `/` and `?`; no fragment, no backslash, no space. */
const PATH_WITH_QUERY = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * An authority as `wasi:http/types` means it: `host[:port]`, the host a DNS name, a dotted IPv4
 * address or an IPv6 address in brackets. No userinfo, percent-encoding, backslash or zone; a name
 * whose last label is a number is not a name (URL parsers read `0x7f.1` as an IPv4 address).
 */
export function parseAuthority(authority: string): { host: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const host = m[1];
  if (host.startsWith('[')) return parseIp(host)?.family === 6 ? { host: host.slice(1, -1), port } : undefined;
  const labels = (host.endsWith('.') ? host.slice(0, -1) : host).split('.');
  if (/^(\d+|0x[0-9a-f]*)$/i.test(labels[labels.length - 1])) return parseIp(host)?.family === 4 && canonicalIp(host) === host ? { host, port } : undefined;
  if (host.length > 254 || !labels.every((l) => LABEL.test(l))) return undefined;
  return { host, port };
}

export function validPathWithQuery(path: string): boolean {
  return PATH_WITH_QUERY.test(path);
}
// Headers the host's HTTP client manages itself; a guest's values for them are dropped.
const HOST_MANAGED = new Set(['connection', 'content-length', 'host', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer']);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function methodName(m: Method): string {
  return m.tag === 'other' ? m.val : m.tag.toUpperCase();
}

function methodOf(name: string): Method {
  const lower = name.toLowerCase();
  const known = ['get', 'head', 'post', 'put', 'delete', 'connect', 'options', 'trace', 'patch'];
  return known.includes(lower) ? { tag: lower as 'get' } : { tag: 'other', val: name };
}

/** What an outgoing request came to: the helper's response, or the WIT error-code it failed with. */
type Sent = Extract<FetchResult, { ok: true }> | { ok: false; error: HttpErrorCode };

/** The WIT error-code for a failed name lookup (Node's and c-ares's codes). */
function lookupError(code: string): HttpErrorCode {
  if (code === 'ETIMEOUT' || code === 'ETIMEDOUT') return { tag: 'DNS-timeout' };
  return { tag: 'DNS-error', val: { rcode: code, infoCode: undefined } };
}

/** The WIT error-code for a failed fetch. */
function fetchError(code: string, message: string): HttpErrorCode {
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { tag: 'DNS-error', val: { rcode: code, infoCode: undefined } };
    case 'ECONNREFUSED':
      return { tag: 'connection-refused' };
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return { tag: 'connection-terminated' };
    case 'ETIMEDOUT':
    case 'TimeoutError':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { tag: 'connection-timeout' };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { tag: 'destination-unavailable' };
    default:
      if (/CERT|SSL|TLS/i.test(code)) return { tag: 'TLS-certificate-error' };
      return { tag: 'internal-error', val: message };
  }
}

/** One request handed to an incoming-handler, and where its answer appears. */
export interface IncomingExchange {
  readonly request: object;
  readonly outparam: object;
  /** The response the guest set, its error code, or undefined while it has set none. */
  response(): HttpResponse | HttpErrorCode | undefined;
  /** For a streamed exchange once the handler has returned: what it set, ending a body it left open. */
  complete(): ResponseOutcome;
}

/**
 * The sink of a streamed response, guarded so that it sees one head, then bytes, then one end. A
 * limit the sink enforces stops the guest for good, as every limit does.
 */
class StreamedResponse {
  readonly #sink: ResponseSink;
  readonly #state: HostState;
  #ended = false;
  constructor(sink: ResponseSink, state: HostState) {
    this.#sink = sink;
    this.#state = state;
  }
  head(status: number, headers: [string, string][], body: readonly Uint8Array[], ended: boolean): void {
    this.#ended = ended;
    this.#guard(() => this.#sink.head(status, headers, body, ended));
  }
  body(bytes: Uint8Array): void {
    if (this.#ended) throw new Error('body already finished');
    if (bytes.length > 0) this.#guard(() => this.#sink.body(bytes));
  }
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#guard(() => this.#sink.end());
  }
  #guard(send: () => void): void {
    try {
      send();
    } catch (err) {
      if (err instanceof WasmSandboxError) this.#state.stop(err);
      throw err;
    }
  }
}

export interface HttpHost {
  incoming(init: HttpRequestInit, streams?: HttpStreams): IncomingExchange;
  readonly interfaces: Record<string, Record<string, unknown>>;
}

export function createHttp(state: HostState, io: Io): HttpHost {
  class Fields {
    #entries: [string, Uint8Array][];
    #immutable: boolean;
    constructor(entries: [string, Uint8Array][] = [], immutable = false) {
      this.#entries = entries;
      this.#immutable = immutable;
    }
    static fromList(entries: [string, Uint8Array][]): Fields {
      for (const [name, value] of entries) check(name, value);
      return new Fields(entries.map(([n, v]) => [n, v.slice()]));
    }
    #mutable(): void {
      if (this.#immutable) throw { tag: 'immutable' };
    }
    get(name: string): Uint8Array[] {
      const n = name.toLowerCase();
      return this.#entries.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v.slice());
    }
    has(name: string): boolean {
      const n = name.toLowerCase();
      return this.#entries.some(([k]) => k.toLowerCase() === n);
    }
    set(name: string, values: Uint8Array[]): void {
      this.#mutable();
      for (const v of values) check(name, v);
      this.#remove(name);
      for (const v of values) this.#entries.push([name, v.slice()]);
    }
    delete(name: string): void {
      this.#mutable();
      check(name, new Uint8Array(0));
      this.#remove(name);
    }
    getAndDelete(name: string): Uint8Array[] {
      this.#mutable();
      const values = this.get(name);
      this.#remove(name);
      return values;
    }
    append(name: string, value: Uint8Array): void {
      this.#mutable();
      check(name, value);
      this.#entries.push([name, value.slice()]);
    }
    entries(): [string, Uint8Array][] {
      return this.#entries.map(([k, v]) => [k, v.slice()]);
    }
    clone(): Fields {
      return new Fields(this.entries());
    }
    #remove(name: string): void {
      const n = name.toLowerCase();
      this.#entries = this.#entries.filter(([k]) => k.toLowerCase() !== n);
    }
    /** An immutable view sharing nothing mutable with this one. */
    static frozen(f: Fields): Fields {
      // Entries are replaced, never changed in place, and every read copies: an immutable list can be shared.
      return new Fields(f.#immutable ? f.#entries : f.entries(), true);
    }
    static text(f: Fields): [string, string][] {
      return f.#entries.map(([k, v]) => [k, decoder.decode(v)]);
    }
  }

  function check(name: string, value: Uint8Array): void {
    if (!TOKEN.test(name)) throw { tag: 'invalid-syntax' };
    if (value.some((b) => b === 0 || b === 10 || b === 13)) throw { tag: 'invalid-syntax' };
  }

  /** A body being written by the guest: kept, or handed on once its response is streamed. */
  class OutgoingBody {
    readonly chunks: Uint8Array[] = [];
    size = 0;
    finished = false;
    #stream = false;
    #sink: StreamedResponse | undefined;
    write(): InstanceType<Io['OutputStream']> {
      if (this.#stream) throw undefined;
      this.#stream = true;
      const sink: ByteSink = {
        write: (bytes) => {
          if (this.finished) throw new Error('body already finished');
          const max = state.limits.io.maxWriteBytes;
          if (max !== null && this.size + bytes.length > max) state.countWrite(bytes.length);
          this.size += bytes.length;
          // The sink copies what it forwards; kept chunks need their own copy.
          if (this.#sink) this.#sink.body(bytes);
          else this.chunks.push(bytes.slice());
        },
        capacity: () => 1 << 20,
      };
      return new io.OutputStream(sink);
    }
    static finish(body: OutgoingBody, _trailers: Fields | undefined): void {
      body.finished = true;
      body.#sink?.end();
    }
    /** From now on the body goes to `sink`; returns what was written before, and whether it was finished. */
    static attach(body: OutgoingBody, sink: StreamedResponse): { chunks: Uint8Array[]; finished: boolean } {
      body.#sink = sink;
      return { chunks: body.chunks.splice(0), finished: body.finished };
    }
    static bytes(body: OutgoingBody | undefined): Uint8Array | undefined {
      if (!body || body.size === 0) return undefined;
      // Chunks are the body's own copies and never change, so the only one can be handed out.
      if (body.chunks.length === 1) return body.chunks[0];
      const out = new Uint8Array(body.size);
      let off = 0;
      for (const c of body.chunks) {
        out.set(c, off);
        off += c.length;
      }
      return out;
    }
  }

  class OutgoingRequest {
    #headers: Fields;
    #method: Method = { tag: 'get' };
    #path: string | undefined;
    #scheme: Scheme | undefined;
    #authority: string | undefined;
    #body: OutgoingBody | undefined;
    constructor(headers: Fields) {
      this.#headers = headers;
    }
    body(): OutgoingBody {
      if (this.#body) throw undefined;
      this.#body = new OutgoingBody();
      return this.#body;
    }
    method(): Method {
      return this.#method;
    }
    setMethod(m: Method): void {
      if (m.tag === 'other' && !TOKEN.test(m.val)) throw undefined;
      this.#method = m;
    }
    pathWithQuery(): string | undefined {
      return this.#path;
    }
    setPathWithQuery(p: string | undefined): void {
      if (p !== undefined && !validPathWithQuery(p)) throw undefined;
      this.#path = p;
    }
    scheme(): Scheme | undefined {
      return this.#scheme;
    }
    setScheme(s: Scheme | undefined): void {
      if (s?.tag === 'other' && !SCHEME.test(s.val)) throw undefined;
      this.#scheme = s;
    }
    authority(): string | undefined {
      return this.#authority;
    }
    setAuthority(a: string | undefined): void {
      if (a !== undefined && parseAuthority(a) === undefined) throw undefined;
      this.#authority = a;
    }
    headers(): Fields {
      return Fields.frozen(this.#headers);
    }
    static parts(r: OutgoingRequest) {
      return { method: r.#method, path: r.#path, scheme: r.#scheme, authority: r.#authority, headers: r.#headers, body: r.#body };
    }
  }

  class RequestOptions {
    #connect: bigint | undefined;
    #firstByte: bigint | undefined;
    #between: bigint | undefined;
    connectTimeout(): bigint | undefined {
      return this.#connect;
    }
    setConnectTimeout(d: bigint | undefined): void {
      this.#connect = d;
    }
    firstByteTimeout(): bigint | undefined {
      return this.#firstByte;
    }
    setFirstByteTimeout(d: bigint | undefined): void {
      this.#firstByte = d;
    }
    betweenBytesTimeout(): bigint | undefined {
      return this.#between;
    }
    setBetweenBytesTimeout(d: bigint | undefined): void {
      this.#between = d;
    }
    static totalMs(o: RequestOptions | undefined): number | undefined {
      if (!o) return undefined;
      const parts = [o.#connect, o.#firstByte].filter((d): d is bigint => d !== undefined);
      return parts.length ? Number(parts.reduce((a, b) => a + b, 0n) / 1_000_000n) : undefined;
    }
  }

  class FutureTrailers {
    #taken = false;
    subscribe(): InstanceType<Io['Pollable']> {
      return new io.Pollable();
    }
    get(): unknown {
      if (this.#taken) return { tag: 'err', val: undefined };
      this.#taken = true;
      return { tag: 'ok', val: { tag: 'ok', val: undefined } };
    }
  }

  class IncomingBody {
    readonly #source: ByteSource;
    #streamed = false;
    constructor(source: ByteSource) {
      this.#source = source;
    }
    stream(): InstanceType<Io['InputStream']> {
      if (this.#streamed) throw undefined;
      this.#streamed = true;
      const source = this.#source;
      return new io.InputStream({
        read: (len) => {
          const out = source.read(len);
          if (out !== undefined && out.length > 0) state.countRead(out.length);
          return out;
        },
        ready: () => source.ready(),
        block: source.block && ((ms) => source.block!(ms)),
        close: source.close && (() => source.close!()),
      });
    }
    static finish(_body: IncomingBody): FutureTrailers {
      return new FutureTrailers();
    }
  }

  /** A body known whole. */
  function bytesSource(data: Uint8Array): ByteSource {
    let pos = 0;
    return {
      read: (len) => {
        if (pos >= data.length) return undefined;
        const n = Math.min(len, data.length - pos);
        const out = data.slice(pos, pos + n);
        pos += n;
        return out;
      },
      ready: () => true,
    };
  }

  class IncomingResponse {
    readonly #status: number;
    readonly #headers: Fields;
    #body: Uint8Array | undefined;
    constructor(status: number, headers: Fields, body: Uint8Array) {
      this.#status = status;
      this.#headers = headers;
      this.#body = body;
    }
    status(): number {
      return this.#status;
    }
    headers(): Fields {
      return Fields.frozen(this.#headers);
    }
    consume(): IncomingBody {
      if (!this.#body) throw undefined;
      const body = new IncomingBody(bytesSource(this.#body));
      this.#body = undefined;
      return body;
    }
  }

  class FutureIncomingResponse {
    #send: (() => Sent) | undefined;
    #result: Sent | undefined;
    #taken = false;
    /** Gives the request's place under io.maxNetworkConnections back. */
    readonly #release: () => void;
    constructor(send: () => Sent, release: () => void) {
      this.#send = send;
      this.#release = release;
    }
    #settle(): Sent {
      if (!this.#result) {
        const send = this.#send!;
        this.#send = undefined;
        try {
          this.#result = send();
        } finally {
          // The helper's connection has ended: the response is whole (or cut) or the request failed.
          this.#release();
        }
      }
      return this.#result;
    }
    subscribe(): InstanceType<Io['Pollable']> {
      return new io.Pollable({ ready: () => (this.#settle(), true), waitMs: () => 0 });
    }
    get(): unknown {
      if (this.#taken) return { tag: 'err', val: undefined };
      const r = this.#settle();
      this.#taken = true;
      if (!r.ok) return { tag: 'ok', val: { tag: 'err', val: r.error } };
      const headers = new Fields(r.headers.map(([k, v]) => [k, encoder.encode(v)]), true);
      return { tag: 'ok', val: { tag: 'ok', val: new IncomingResponse(r.status, headers, r.body) } };
    }
    [Symbol.dispose](): void {
      // Dropped before it was sent: nothing was opened.
      this.#send = undefined;
      this.#release();
    }
  }

  class IncomingRequest {
    readonly #init: HttpRequestInit;
    #headers: Fields | undefined;
    #body: ByteSource | undefined;
    constructor(init: HttpRequestInit, body: ByteSource | undefined) {
      this.#init = init;
      this.#body = body ?? bytesSource(typeof init.body === 'string' ? encoder.encode(init.body) : (init.body ?? new Uint8Array(0)));
    }
    /** Encoded on first use: many handlers never look at the request's headers. */
    #fields(): Fields {
      if (this.#headers) return this.#headers;
      const h = this.#init.headers;
      const pairs = h === undefined ? [] : Symbol.iterator in h ? [...(h as Iterable<[string, string]>)] : Object.entries(h);
      this.#headers = new Fields(pairs.map(([k, v]) => [k, encoder.encode(v)]), true);
      return this.#headers;
    }
    method(): Method {
      return methodOf(this.#init.method ?? 'GET');
    }
    pathWithQuery(): string | undefined {
      return this.#init.path ?? '/';
    }
    scheme(): Scheme | undefined {
      return this.#init.scheme === 'https' ? { tag: 'HTTPS' } : { tag: 'HTTP' };
    }
    authority(): string | undefined {
      return this.#init.authority ?? 'localhost';
    }
    headers(): Fields {
      return Fields.frozen(this.#fields());
    }
    consume(): IncomingBody {
      if (!this.#body) throw undefined;
      const body = new IncomingBody(this.#body);
      this.#body = undefined;
      return body;
    }
  }

  class OutgoingResponse {
    #status = 200;
    readonly #headers: Fields;
    #body: OutgoingBody | undefined;
    #sink: StreamedResponse | undefined;
    constructor(headers: Fields) {
      this.#headers = headers;
    }
    statusCode(): number {
      return this.#status;
    }
    setStatusCode(code: number): void {
      if (code < 100 || code > 999) throw undefined;
      this.#status = code;
    }
    headers(): Fields {
      return Fields.frozen(this.#headers);
    }
    body(): OutgoingBody {
      if (this.#body) throw undefined;
      this.#body = new OutgoingBody();
      if (this.#sink) OutgoingBody.attach(this.#body, this.#sink);
      return this.#body;
    }
    static collect(r: OutgoingResponse): HttpResponse {
      return { status: r.#status, headers: Fields.text(r.#headers), body: OutgoingBody.bytes(r.#body) ?? new Uint8Array(0) };
    }
    /** Sends the head now with the body written so far, and the rest of the body as it comes. */
    static stream(r: OutgoingResponse, sink: StreamedResponse): void {
      r.#sink = sink;
      const sofar = r.#body ? OutgoingBody.attach(r.#body, sink) : { chunks: [], finished: false };
      sink.head(r.#status, Fields.text(r.#headers), sofar.chunks, sofar.finished);
    }
  }

  type Outcome = { tag: 'ok'; val: OutgoingResponse } | { tag: 'err'; val: HttpErrorCode };
  class ResponseOutparam {
    #outcome: Outcome | undefined;
    readonly #sink: StreamedResponse | undefined;
    constructor(sink?: StreamedResponse) {
      this.#sink = sink;
    }
    static set(param: ResponseOutparam, response: Outcome): void {
      param.#outcome = response;
      if (param.#sink && response.tag === 'ok') OutgoingResponse.stream(response.val, param.#sink);
    }
    static outcome(param: ResponseOutparam): Outcome | undefined {
      return param.#outcome;
    }
  }

  for (const cls of [OutgoingRequest, RequestOptions, FutureTrailers, IncomingResponse, FutureIncomingResponse, IncomingRequest, OutgoingResponse]) {
    guardClass(cls, state);
  }
  guardClass(Fields, state, 'fromList');
  guardClass(OutgoingBody, state, 'finish');
  guardClass(IncomingBody, state, 'finish');
  guardClass(ResponseOutparam, state, 'set');

  /** The first resolved address of `host` the grant lets a request to `port` use, or the WIT error that ends the request. */
  function grantedAddress(host: string, port: number, wait: () => number): string | HttpErrorCode {
    const found = lookupSync(host, nameserversOf(state.caps.network), wait);
    if (!found.ok) return lookupError(found.code);
    const names = [normalHost(host)];
    const address = found.addresses.find((a) => state.allowsNetwork({ use: 'http', address: a, port, names }, false));
    if (address !== undefined) return address;
    // Reported once, for the first answer: a name with many refused answers is one refusal.
    state.allowsNetwork({ use: 'http', address: found.addresses[0] ?? '', port, names });
    return { tag: 'HTTP-request-denied' };
  }

  function handle(request: OutgoingRequest, options: RequestOptions | undefined): FutureIncomingResponse {
    const parts = OutgoingRequest.parts(request);
    const scheme = parts.scheme?.tag === 'HTTP' ? 'http' : parts.scheme?.tag === 'HTTPS' || parts.scheme === undefined ? 'https' : undefined;
    if (scheme === undefined) throw { tag: 'HTTP-protocol-error' };
    const target = parts.authority === undefined ? undefined : parseAuthority(parts.authority);
    const path = parts.path ?? '/';
    if (target === undefined || !validPathWithQuery(path)) throw { tag: 'HTTP-request-URI-invalid' };
    const port = target.port ?? (scheme === 'http' ? 80 : 443);
    const literal = canonicalIp(target.host);
    const allowed = literal === undefined
      ? state.allowsNetwork({ use: 'lookup', name: target.host, port })
      : state.allowsNetwork({ use: 'http', address: literal, port });
    if (!allowed) throw { tag: 'HTTP-request-denied' };
    const release = state.takeConnection();
    if (release === undefined) throw { tag: 'connection-limit-reached' };
    const authority = parts.authority!;
    return new FutureIncomingResponse(() => {
      state.interrupt();
      const wait = (): number => {
        state.interrupt();
        return state.options.remainingMs();
      };
      const address = literal ?? grantedAddress(target.host, port, wait);
      if (typeof address !== 'string') return { ok: false, error: address };
      const headers = Fields.text(parts.headers).filter(([k]) => !HOST_MANAGED.has(k.toLowerCase()));
      const requested = RequestOptions.totalMs(options);
      const timeoutMs = Math.min(requested ?? Infinity, state.options.remainingMs());
      const r = fetchSync({
        scheme,
        address,
        port,
        authority,
        servername: scheme === 'https' && literal === undefined ? target.host.replace(/\.$/, '') : undefined,
        path,
        method: methodName(parts.method),
        headers,
        body: OutgoingBody.bytes(parts.body),
        maxBodyBytes: state.limits.io.maxReadBytes ?? 64 * 1024 * 1024,
        timeoutMs: Number.isFinite(timeoutMs) ? Math.max(1, Math.floor(timeoutMs)) : undefined,
      }, wait);
      return r.ok ? r : { ok: false, error: fetchError(r.code, r.message) };
    }, release);
  }

  return {
    /**
     * For the embedder: a request to hand to `incoming-handler.handle`, and the slot the guest
     * answers in. With `streams`, the body is read from `streams.body` and the response goes to
     * `streams.sink` as the guest produces it; otherwise `response()` collects it afterwards.
     */
    incoming(init: HttpRequestInit, streams?: HttpStreams): IncomingExchange {
      const sink = streams && new StreamedResponse(streams.sink, state);
      const request = new IncomingRequest(init, streams?.body);
      const outparam = new ResponseOutparam(sink);
      return {
        request,
        outparam,
        response() {
          const outcome = ResponseOutparam.outcome(outparam);
          if (!outcome) return undefined;
          return outcome.tag === 'ok' ? OutgoingResponse.collect(outcome.val) : outcome.val;
        },
        complete() {
          const outcome = ResponseOutparam.outcome(outparam);
          if (!outcome) return { tag: 'unset' };
          if (outcome.tag === 'err') return outcome;
          // The handler is done: a body it left unfinished ends with what it wrote.
          sink?.end();
          return { tag: 'ok' };
        },
      };
    },
    interfaces: {
      'wasi:http/types': {
        Fields, FutureIncomingResponse, FutureTrailers, IncomingBody, IncomingRequest, IncomingResponse, OutgoingBody,
        OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam,
        ...guardFunctions({ httpErrorCode: (): undefined => undefined }, state),
      },
      'wasi:http/outgoing-handler': guardFunctions({ handle }, state),
    },
  };
}
