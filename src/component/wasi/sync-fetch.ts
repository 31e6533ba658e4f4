/**
 * Blocking HTTP for a guest's thread: one helper worker (shared, unreferenced) does the network
 * work on its event loop, and the calling thread sleeps on a shared flag in short slices, so the
 * call's deadline is still noticed while it waits. The helper decides nothing: it resolves a name
 * when asked (the caller checks every answer), and sends a request to exactly the address it is
 * given, with the guest's authority as the Host header and, for HTTPS, as the name the certificate
 * must match. Redirects are never followed: the guest sees the 3xx and any request it makes next is
 * checked against the policy again.
 */
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';

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

export type LookupResult = { ok: true; addresses: string[] } | { ok: false; code: string; message: string };

type Job = { op: 'fetch'; request: FetchRequest } | { op: 'lookup'; name: string };

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
function failure(err) {
  return { ok: false, code: String((err && err.code) || (err && err.name) || 'ERROR'), message: String((err && err.message) || err) };
}
function lookup(name) {
  return new Promise((resolve) => {
    require('node:dns').lookup(name, { all: true, order: 'verbatim' }, (err, found) => {
      resolve(err ? failure(err) : { ok: true, addresses: [...new Set(found.map((a) => a.address))] });
    });
  });
}
function fetchOnce(request) {
  return new Promise((resolve) => {
    const mod = require(request.scheme === 'https' ? 'node:https' : 'node:http');
    let timer;
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    let req;
    try {
      req = mod.request({
        host: request.address, port: request.port, path: request.path, method: request.method,
        headers: [['host', request.authority], ...request.headers], setHost: false, agent: false,
        servername: request.servername,
      });
    } catch (err) {
      return finish(failure(err));
    }
    if (request.timeoutMs !== undefined) {
      timer = setTimeout(() => req.destroy(Object.assign(new Error('the request timed out'), { code: 'ETIMEDOUT' })), request.timeoutMs);
    }
    req.on('error', (err) => finish(failure(err)));
    req.on('response', (res) => {
      const chunks = [];
      let size = 0;
      let truncated = false;
      const headers = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
      const done = () => {
        const body = new Uint8Array(size);
        let off = 0;
        for (const c of chunks) { body.set(c, off); off += c.length; }
        finish({ ok: true, status: res.statusCode, headers, body, truncated });
      };
      res.on('data', (value) => {
        if (truncated) return;
        if (size + value.length > request.maxBodyBytes) {
          chunks.push(value.subarray(0, request.maxBodyBytes - size));
          size = request.maxBodyBytes;
          truncated = true;
          res.destroy();
          done();
          return;
        }
        chunks.push(value);
        size += value.length;
      });
      res.on('end', done);
      res.on('error', (err) => finish(failure(err)));
    });
    req.end(request.body === undefined ? undefined : Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength));
  });
}
parentPort.on('message', async ({ job, port, flag }) => {
  let result;
  try {
    result = job.op === 'lookup' ? await lookup(job.name) : await fetchOnce(job.request);
  } catch (err) {
    result = failure(err);
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
    worker = new Worker(WORKER_SOURCE, { eval: true });
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

/** The addresses the system resolver gives for `name`, in its order. */
export function lookupSync(name: string, wait: () => number): LookupResult {
  return runSync<LookupResult>({ op: 'lookup', name }, wait);
}
