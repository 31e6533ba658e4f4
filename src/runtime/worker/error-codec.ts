/**
 * Errors cross the thread boundary as JSON and are rebuilt as instances of the same class from
 * `src/errors.ts`, with the same fields, so callers on the main thread branch on `code` or
 * `instanceof` exactly as they would with the in-process runtime.
 */
import * as errors from '../../errors.ts';
import { WasmSandboxError } from '../../errors.ts';
import { BYTES_CAPACITY, type Channel } from './channel.ts';

interface ErrorReport {
  name: string;
  message: string;
  /** The own fields of a sandbox error (code, kind, limit, wasmStack, ...); absent for any other error. */
  fields?: Record<string, unknown>;
  /**
   * The main thread keeps the errors its host functions throw and sends their position along; when
   * one comes back (as the error itself, or as the cause of a host-error trap) the caller gets the
   * original object, as in-process.
   */
  hostRef?: number;
  causeRef?: number;
}

/** Marks an error the worker rebuilt from a host function's failure with its main-thread position. */
export const HOST_REF: unique symbol = Symbol('wasm-sandbox.hostRef');

type Constructor = abstract new (...args: never[]) => Error;

// Looked up by name rather than listed, so classes added to errors.ts later cross without changes here.
const SANDBOX_CLASSES = new Map<string, Constructor>(
  Object.entries(errors)
    .filter((entry): entry is [string, Constructor] => typeof entry[1] === 'function' && (entry[1] === WasmSandboxError || entry[1].prototype instanceof WasmSandboxError)),
);

function refOf(value: unknown): number | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const ref = (value as { [HOST_REF]?: number })[HOST_REF];
  return typeof ref === 'number' ? ref : undefined;
}

function report(err: unknown, hostRef?: number): ErrorReport {
  if (err instanceof WasmSandboxError) {
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(err)) fields[key] = value;
    return { name: err.constructor.name, message: err.message, fields, hostRef: hostRef ?? refOf(err), causeRef: refOf(err.cause) };
  }
  if (err instanceof Error) return { name: err.name, message: err.message, hostRef: hostRef ?? refOf(err) };
  return { name: 'Error', message: String(err), hostRef };
}

/** Keeps a report within the byte area: long messages and stacks are cut, never the typed fields. */
function fit(r: ErrorReport): string {
  let text = JSON.stringify(r);
  // Three bytes per UTF-16 unit is the worst case for UTF-8.
  if (text.length * 3 <= BYTES_CAPACITY) return text;
  const fields = { ...r.fields };
  if (Array.isArray(fields.wasmStack)) fields.wasmStack = fields.wasmStack.slice(0, 32);
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string') fields[key] = cut(value, 2000);
  }
  text = JSON.stringify({ ...r, message: cut(r.message, 4000), fields: r.fields && fields });
  if (text.length * 3 <= BYTES_CAPACITY) return text;
  return JSON.stringify({ name: r.name, message: cut(r.message, 4000) });
}

/** Writes any thrown value into the channel's byte area. */
export function writeError(channel: Channel, err: unknown, hostRef?: number): void {
  channel.writeText(fit(report(err, hostRef)));
}

/**
 * Rebuilds the error the other side wrote. `hostErrors` resolves host references on the main thread;
 * the worker passes none and instead tags what it rebuilt with HOST_REF.
 */
export function readError(channel: Channel, hostErrors?: readonly unknown[]): Error {
  let r: ErrorReport;
  try {
    r = JSON.parse(channel.readText()) as ErrorReport;
  } catch {
    return new errors.Trap('unknown', 'the worker sent an unreadable error report');
  }
  if (hostErrors && r.hostRef !== undefined && r.hostRef < hostErrors.length) {
    const original = hostErrors[r.hostRef];
    if (original instanceof Error) return original;
  }
  const err = rebuild(r);
  if (hostErrors && r.causeRef !== undefined && r.causeRef < hostErrors.length) {
    Object.defineProperty(err, 'cause', { value: hostErrors[r.causeRef], writable: true, configurable: true, enumerable: false });
  }
  if (!hostErrors && r.hostRef !== undefined) Object.defineProperty(err, HOST_REF, { value: r.hostRef });
  return err;
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
  Error.captureStackTrace(err, readError);
  return err;
}
