/**
 * JSON-RPC 2.0 over any CommunicationChannel, in both directions: either side calls the other's
 * methods, sends notifications, and answers with results or error objects. Each message is one JSON
 * text (a batch is a JSON array). Calls carry numeric ids and a timeout each, so a peer that never
 * answers costs a Timeout, not a leak.
 */
import { ChannelClosed, GuestError, InvalidArguments, Timeout, WasmSandboxError } from '../errors.ts';
import type { CommunicationChannel, RpcCallOptions, RpcChannel, RpcHandler } from './channel.ts';
import { utf8Bytes } from './codecs.ts';
import { parseBoundedJson } from './structure-check.ts';

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

/** Options of a `JsonRpcChannel`. */
export interface JsonRpcOptions {
  /** Default time a call waits for its response, in ms (default 30 000); null waits forever. */
  timeoutMs?: number | null;
}

type Id = string | number | null;

interface ErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Throw from a handler to answer with a specific JSON-RPC error code. */
export class JsonRpcError extends Error {
  /** The JSON-RPC error code sent to the peer, e.g. -32602 for invalid params. */
  readonly code: number;
  /** Extra data sent with the error, as JSON. */
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'JsonRpcError';
    this.code = code;
    this.data = data;
  }
}

export class JsonRpcChannel implements RpcChannel {
  private readonly channel: CommunicationChannel;
  private readonly timeoutMs: number | null;
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedWith: WasmSandboxError | undefined;

  constructor(channel: CommunicationChannel, options: JsonRpcOptions = {}) {
    this.channel = channel;
    this.timeoutMs = checkTimeout(options.timeoutMs === undefined ? 30_000 : options.timeoutMs);
    void this.read();
  }

  /** True once the channel was closed, by either side or by an error. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  register(method: string, handler: RpcHandler): void {
    if (typeof method !== 'string' || method === '') throw new InvalidArguments('a JSON-RPC method name must be a non-empty string');
    if (typeof handler !== 'function') throw new InvalidArguments(`the handler of '${method}' must be a function`);
    this.handlers.set(method, handler);
  }

  call<T = unknown>(method: string, params?: unknown, options: RpcCallOptions = {}): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    let timeoutMs: number | null;
    let text: string;
    const id = this.nextId++;
    try {
      timeoutMs = options.timeoutMs === undefined ? this.timeoutMs : checkTimeout(options.timeoutMs);
      text = encodeMessage(method, params, id);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      const started = performance.now();
      const timer = timeoutMs === null ? undefined : setTimeout(() => {
        // A late response finds no entry and is dropped.
        this.pending.delete(id);
        reject(new Timeout('call', timeoutMs, performance.now() - started));
      }, timeoutMs);
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      this.channel.send(utf8Bytes(text)).catch((err: unknown) => this.settle(id, undefined, err));
    });
  }

  notify(method: string, params?: unknown): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    let text: string;
    try {
      text = encodeMessage(method, params, undefined);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.channel.send(utf8Bytes(text));
  }

  /** Closes the channel and its transport: pending calls reject with `ChannelClosed`. */
  close(): void {
    this.shut(new ChannelClosed('the JSON-RPC channel was closed'));
    this.channel.close();
  }

  private shut(error: WasmSandboxError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(error);
    }
  }

  private settle(id: number, result: unknown, error: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (error !== undefined) p.reject(error);
    else p.resolve(result);
  }

  // --- incoming -------------------------------------------------------------------------------

  private async read(): Promise<void> {
    for (;;) {
      let bytes: Uint8Array;
      try {
        bytes = await this.channel.receive();
      } catch (err) {
        this.shut(err instanceof WasmSandboxError ? err : new ChannelClosed(`the JSON-RPC channel's transport failed: ${(err as Error).message}`));
        return;
      }
      this.dispatch(bytes);
    }
  }

  private dispatch(bytes: Uint8Array): void {
    let message: unknown;
    try {
      message = parseBoundedJson(strictUtf8.decode(bytes));
    } catch {
      this.reply(errorResponse(null, PARSE_ERROR, 'parse error: the message is not UTF-8 JSON'));
      return;
    }
    if (Array.isArray(message)) {
      if (message.length === 0) {
        this.reply(errorResponse(null, INVALID_REQUEST, 'invalid request: an empty batch'));
        return;
      }
      void Promise.all(message.map((m) => this.handle(m))).then((responses) => {
        const answered = responses.filter((r): r is object => r !== undefined);
        if (answered.length) this.reply(answered);
      });
      return;
    }
    void this.handle(message).then((response) => {
      if (response !== undefined) this.reply(response);
    });
  }

  /** Handles one message; resolves with the response to send, if any. */
  private async handle(message: unknown): Promise<object | undefined> {
    if (!message || typeof message !== 'object' || (message as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      return errorResponse(idOf(message), INVALID_REQUEST, 'invalid request: not a JSON-RPC 2.0 object');
    }
    const m = message as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (m.method === undefined) {
      this.response(m);
      return undefined;
    }
    const isCall = 'id' in m;
    if (typeof m.method !== 'string' || (isCall && !validId(m.id)) || (m.params !== undefined && (m.params === null || typeof m.params !== 'object'))) {
      return isCall || typeof m.method !== 'string' ? errorResponse(validId(m.id) ? (m.id as Id) : null, INVALID_REQUEST, 'invalid request') : undefined;
    }
    const handler = this.handlers.get(m.method);
    if (!handler) {
      return isCall ? errorResponse(m.id as Id, METHOD_NOT_FOUND, `method not found: ${m.method}`) : undefined;
    }
    try {
      const result = await handler(m.params);
      return isCall ? { jsonrpc: '2.0', id: m.id, result: result === undefined ? null : result } : undefined;
    } catch (err) {
      if (!isCall) return undefined;
      const e = err as { code?: unknown; message?: unknown; data?: unknown };
      const code = typeof e?.code === 'number' && Number.isInteger(e.code) ? e.code : INTERNAL_ERROR;
      return errorResponse(m.id as Id, code, typeof e?.message === 'string' ? e.message : String(err), e?.data);
    }
  }

  private response(m: { id?: unknown; result?: unknown; error?: unknown }): void {
    if (typeof m.id !== 'number') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.error !== undefined) {
      const e = m.error as Partial<ErrorObject> | null;
      const message = typeof e?.message === 'string' ? e.message : 'the peer answered with a malformed error object';
      this.settle(m.id, undefined, new GuestError(p.method, message, { guestCode: typeof e?.code === 'number' ? e.code : undefined, data: e?.data }));
      return;
    }
    this.settle(m.id, m.result, undefined);
  }

  private reply(response: object): void {
    if (this.closedWith) return;
    let text: string;
    try {
      text = JSON.stringify(response);
    } catch (err) {
      const id = (response as { id?: Id }).id ?? null;
      text = JSON.stringify(errorResponse(id, INTERNAL_ERROR, `the result cannot be encoded as JSON: ${(err as Error).message}`));
    }
    this.channel.send(utf8Bytes(text)).catch(() => {
      // The channel is gone; the read loop reports that.
    });
  }
}

function checkTimeout(value: number | null): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new InvalidArguments(`a JSON-RPC timeout must be a number of ms from 0 to 2^31-1, or null; got ${String(value)}`);
  }
  return value;
}

function encodeMessage(method: string, params: unknown, id: number | undefined): string {
  if (typeof method !== 'string' || method === '') throw new InvalidArguments('a JSON-RPC method name must be a non-empty string');
  if (params !== undefined && (params === null || typeof params !== 'object')) {
    throw new InvalidArguments(`JSON-RPC params must be an array or an object, got ${params === null ? 'null' : typeof params}`);
  }
  const message: Record<string, unknown> = { jsonrpc: '2.0', method };
  if (params !== undefined) message.params = params;
  if (id !== undefined) message.id = id;
  try {
    return JSON.stringify(message);
  } catch (err) {
    throw new InvalidArguments(`the params of '${method}' cannot be encoded as JSON: ${(err as Error).message}`);
  }
}

function validId(id: unknown): boolean {
  return id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
}

function idOf(message: unknown): Id {
  const id = message && typeof message === 'object' ? (message as { id?: unknown }).id : null;
  return validId(id) ? (id as Id) : null;
}

function errorResponse(id: Id, code: number, message: string, data?: unknown): object {
  const error: ErrorObject = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', id, error };
}
