/**
 * A blocking HTTP request for a guest's thread: one helper worker (shared, unreferenced) runs
 * `fetch`, and the calling thread sleeps on a shared flag in short slices, so the call's deadline is
 * still noticed while it waits. Redirects are never followed: the guest sees the 3xx and any request
 * it makes next is checked against the policy again.
 */
import type { Worker } from 'node:worker_threads';

export interface FetchRequest {
  url: string;
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

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', async ({ request, port, flag }) => {
  let result;
  try {
    const signal = request.timeoutMs === undefined ? undefined : AbortSignal.timeout(request.timeoutMs);
    const response = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body, redirect: 'manual', signal });
    const chunks = [];
    let size = 0;
    let truncated = false;
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (size + value.length > request.maxBodyBytes) {
          chunks.push(value.subarray(0, request.maxBodyBytes - size));
          size = request.maxBodyBytes;
          truncated = true;
          await reader.cancel();
          break;
        }
        chunks.push(value);
        size += value.length;
      }
    }
    const body = new Uint8Array(size);
    let off = 0;
    for (const c of chunks) { body.set(c, off); off += c.length; }
    result = { ok: true, status: response.status, headers: [...response.headers], body, truncated };
  } catch (err) {
    const cause = err && err.cause;
    const code = (cause && cause.code) || (err && err.name) || 'ERROR';
    result = { ok: false, code: String(code), message: String((cause && cause.message) || (err && err.message) || err) };
  }
  port.postMessage(result);
  port.close();
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

let worker: Worker | undefined;

function helper(): Worker {
  if (!worker) {
    // Taken when first needed: a component that never fetches should not load the thread machinery.
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('error', () => {
      worker = undefined;
    });
  }
  return worker;
}

/**
 * Performs the request, blocking the thread. `wait(ms)` is called between slices: it may throw
 * (the call's deadline) and returns how long the next slice may be.
 */
export function fetchSync(request: FetchRequest, wait: () => number): FetchResult {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { MessageChannel, receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
  const { port1, port2 } = new MessageChannel();
  helper().postMessage({ request, port: port2, flag }, [port2]);
  try {
    while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, Math.max(1, Math.min(50, wait())));
    const message = receiveMessageOnPort(port1);
    return message ? (message.message as FetchResult) : { ok: false, code: 'ERROR', message: 'no response from the HTTP helper' };
  } finally {
    port1.close();
  }
}
