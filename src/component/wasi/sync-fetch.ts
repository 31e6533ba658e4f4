/**
 * Blocking HTTP for a guest's thread: one helper worker (http-helper.ts; shared, unreferenced) does
 * the network work on its event loop, and the calling thread sleeps on a shared flag in short slices, so the
 * call's deadline is still noticed while it waits. The helper decides nothing: it resolves a name
 * when asked (the caller checks every answer), and sends a request to exactly the address it is
 * given, with the guest's authority as the Host header and, for HTTPS, as the name the certificate
 * must match. Redirects are never followed: the guest sees the 3xx and any request it makes next is
 * checked against the policy again.
 */
import type { Worker } from 'node:worker_threads';
import type { Resolution } from '../../host/resolve.ts';
import { THREAD_EXEC_ARGV } from '../../runtime/thread-exec-argv.ts';

export interface FetchRequest {
  scheme: 'http' | 'https';
  /** The checked IP address to connect to; never resolved again. */
  address: string;
  port: number;
  /** The Host header: the request's authority as the guest wrote it (validated). */
  authority: string;
  /** The name the server's certificate must match, for HTTPS to a host name. */
  servername: string | undefined;
  /** Path and query (validated, starting with `/`). */
  path: string;
  method: string;
  headers: [string, string][];
  body: Uint8Array | undefined;
  /** Response bodies are cut at this many bytes. */
  maxBodyBytes: number;
  timeoutMs: number | undefined;
}

export type FetchResult =
  | { ok: true; status: number; headers: [string, string][]; body: Uint8Array; truncated: boolean }
  | { ok: false; code: string; message: string };


/** What the helper is asked to do; `servers` are the DNS servers the grant names, if any. */
export type Job = { op: 'fetch'; request: FetchRequest } | { op: 'lookup'; name: string; servers: string[] | undefined };

// Run from source the helper is TypeScript, from dist JavaScript: follow whatever this file is.
const ENTRY = new URL(`./http-helper${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

let worker: Worker | undefined;

function helper(): Worker {
  if (!worker) {
    // Taken when first needed: a component that never fetches should not load the thread machinery.
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    worker = new Worker(ENTRY, { name: 'wasm-sandbox-http', execArgv: THREAD_EXEC_ARGV });
    worker.unref();
    worker.on('error', () => {
      worker = undefined;
    });
  }
  return worker;
}

/**
 * Runs one job on the helper, blocking the thread. `wait()` is called between slices: it may throw
 * (the call's deadline) and returns how long the next slice may be.
 */
function runSync<T>(job: Job, wait: () => number): T | { ok: false; code: string; message: string } {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { MessageChannel, receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
  const { port1, port2 } = new MessageChannel();
  helper().postMessage({ job, port: port2, flag }, [port2]);
  try {
    while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, Math.max(1, Math.min(50, wait())));
    const message = receiveMessageOnPort(port1);
    return message ? (message.message as T) : { ok: false, code: 'ERROR', message: 'no answer from the HTTP helper' };
  } finally {
    port1.close();
  }
}

/** Sends the request to `request.address` and waits for the whole (possibly cut) response. */
export function fetchSync(request: FetchRequest, wait: () => number): FetchResult {
  return runSync<FetchResult>({ op: 'fetch', request }, wait);
}

/** The addresses of `name` (see resolveName), unchecked. */
export function lookupSync(name: string, servers: string[] | undefined, wait: () => number): Resolution {
  return runSync<Resolution>({ op: 'lookup', name, servers }, wait);
}
