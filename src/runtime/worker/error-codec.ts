/**
 * Errors cross the thread boundary as JSON and are rebuilt as instances of the same class from
 * `src/errors.ts`, with the same fields, so callers on the main thread branch on `code` or
 * `instanceof` exactly as they would with the in-process runtime. Identity is kept where it can
 * be: an error a host function threw comes back as that very object, and an error reported to the
 * observer and then thrown by the call is one object, not two copies.
 */
import * as errors from '../../errors.ts';
import { WasmSandboxError } from '../../errors.ts';
import { BYTES_CAPACITY, type Channel } from './channel.ts';

interface ErrorReport {
  name: string;
  message: string;
  /** The own fields of a sandbox error (code, kind, limit, wasmStack, ...); absent for any other error. */
  fields?: Record<string, unknown>;
  /** Which error this is, in the sending worker's numbering. */
  id?: number;
  /** Position of a host function's error on the main thread, for the error itself or for its cause. */
  hostRef?: number;
  causeRef?: number;
}

/** Marks an error the worker rebuilt from a host function's failure with its main-thread position. */
const HOST_REF: unique symbol = Symbol('wasm-sandbox.hostRef');

type Constructor = abstract new (...args: never[]) => Error;

// Looked up by name rather than listed, so classes added to errors.ts later cross without changes here.
const SANDBOX_CLASSES = new Map<string, Constructor>();
for (const [name, value] of Object.entries(errors)) {
  if (typeof value === 'function' && (value === WasmSandboxError || value.prototype instanceof WasmSandboxError)) {
    SANDBOX_CLASSES.set(name, value as unknown as Constructor);
  }
}

function refOf(value: unknown): number | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const ref = (value as { [HOST_REF]?: number })[HOST_REF];
  return typeof ref === 'number' ? ref : undefined;
}

function report(err: unknown): ErrorReport {
  if (err instanceof WasmSandboxError) {
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(err)) fields[key] = value;
    return { name: err.constructor.name, message: err.message, fields, hostRef: refOf(err), causeRef: refOf(err.cause) };
  }
  if (err instanceof Error) return { name: err.name, message: err.message, hostRef: refOf(err) };
  return { name: 'Error', message: String(err) };
}

/** Keeps a report within the byte area: long messages and stacks are cut, never the typed fields. */
function encode(r: ErrorReport): string {
  let text = JSON.stringify(r);
  // Three bytes per UTF-16 unit is the worst case for UTF-8.
  if (text.length * 3 <= BYTES_CAPACITY) return text;
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);
  const fields = r.fields && { ...r.fields };
  if (fields) {
    if (Array.isArray(fields.wasmStack)) fields.wasmStack = fields.wasmStack.slice(0, 32);
    for (const [key, value] of Object.entries(fields)) if (typeof value === 'string') fields[key] = cut(value, 2000);
  }
  text = JSON.stringify({ ...r, message: cut(r.message, 4000), fields });
  if (text.length * 3 <= BYTES_CAPACITY) return text;
  return JSON.stringify({ ...r, message: cut(r.message, 4000), fields: undefined });
}

function parseReport(text: string): ErrorReport {
  try {
    return JSON.parse(text) as ErrorReport;
  } catch {
    return { name: 'Trap', message: 'the worker thread sent an unreadable error report', fields: { code: 'TRAP', name: 'Trap', kind: 'unknown', wasmStack: [] } };
  }
}

function decode(channel: Channel): ErrorReport {
  return parseReport(channel.readText());
}

function rebuild(r: ErrorReport): Error {
  const cls = r.fields ? SANDBOX_CLASSES.get(r.name) : undefined;
  let err: Error;
  if (cls) {
    // Constructors compose their messages from arguments whose order differs per class; the fields
    // already hold the result, so the object is assembled directly on the class's prototype.
    err = Object.create(cls.prototype) as Error;
    Object.assign(err, r.fields);
    Object.defineProperty(err, 'message', { value: r.message, writable: true, configurable: true, enumerable: false });
  } else {
    err = new Error(r.message);
    if (r.name && r.name !== 'Error') err.name = r.name;
  }
  Error.captureStackTrace(err, rebuild);
  return err;
}

// --- as text, for protocols of their own --------------------------------------------------------

/** An error as text that `decodeError` turns back into an error of the same class and fields. */
export function encodeError(err: unknown): string {
  return encode(report(err));
}

export function decodeError(text: string): Error {
  return rebuild(parseReport(text));
}

// --- worker side ------------------------------------------------------------------------------

const ids = new WeakMap<object, number>();
let nextId = 1;

export function writeError(channel: Channel, err: unknown): void {
  const r = report(err);
  if (err !== null && typeof err === 'object') {
    let id = ids.get(err);
    if (id === undefined) ids.set(err, (id = nextId++));
    r.id = id;
  }
  channel.writeText(encode(r));
}

/** An error from the main thread, to be thrown where the guest called a host function. */
export function readError(channel: Channel): Error {
  const r = decode(channel);
  const err = rebuild(r);
  if (r.hostRef !== undefined) Object.defineProperty(err, HOST_REF, { value: r.hostRef });
  return err;
}

// --- main side --------------------------------------------------------------------------------

/** The errors of one exchange with a worker, in both directions. */
export class ErrorLedger {
  private readonly sent: unknown[] = [];
  private readonly received = new Map<number, Error>();

  /** Sends what a host function threw, remembering it so that it can come back as itself. */
  write(channel: Channel, err: unknown): void {
    this.sent.push(err);
    const r = report(err);
    r.hostRef = this.sent.length - 1;
    channel.writeText(encode(r));
  }

  read(channel: Channel): Error {
    const r = decode(channel);
    if (r.hostRef !== undefined) {
      const original = this.sent[r.hostRef];
      if (original instanceof Error) return original;
    }
    if (r.id !== undefined) {
      const seen = this.received.get(r.id);
      if (seen) return seen;
    }
    const err = rebuild(r);
    if (r.causeRef !== undefined && r.causeRef < this.sent.length) {
      Object.defineProperty(err, 'cause', { value: this.sent[r.causeRef], writable: true, configurable: true, enumerable: false });
    }
    if (r.id !== undefined) this.received.set(r.id, err);
    return err;
  }
}
