/**
 * The outgoing-HTTP helper thread (see sync-fetch.ts): resolves names and sends requests on its
 * event loop for guests whose threads have none to spare. It decides nothing: each request goes to
 * exactly the address it names, which the guest's thread has checked.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parentPort } from 'node:worker_threads';
import { resolveName } from '../../host/resolve.ts';
import type { FetchRequest, FetchResult, Job } from './sync-fetch.ts';

function failure(err: unknown): { ok: false; code: string; message: string } {
  const e = err as NodeJS.ErrnoException | undefined;
  return { ok: false, code: String(e?.code ?? e?.name ?? 'ERROR'), message: String(e?.message ?? err) };
}

/** Reads the response to the end, or to maxBodyBytes and then stops. */
function collect(res: IncomingMessage, max: number, finish: (r: FetchResult) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const headers: [string, string][] = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
  const done = (truncated: boolean): void => finish({ ok: true, status: res.statusCode ?? 0, headers, body: new Uint8Array(Buffer.concat(chunks, size)), truncated });
  res.on('data', (value: Buffer) => {
    if (size + value.length > max) {
      chunks.push(value.subarray(0, max - size));
      size = max;
      res.destroy();
      done(true);
      return;
    }
    chunks.push(value);
    size += value.length;
  });
  res.on('end', () => done(false));
  res.on('error', (err) => finish(failure(err)));
}

function fetchOnce(request: FetchRequest): Promise<FetchResult> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (result: FetchResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    let req: ClientRequest;
    try {
      req = (request.scheme === 'https' ? httpsRequest : httpRequest)({
        host: request.address, port: request.port, path: request.path, method: request.method,
        // The flat form of rawHeaders keeps repeated names and their order as the guest wrote them.
        headers: ['host', request.authority, ...request.headers.flat()], setHost: false, agent: false,
        servername: request.servername,
      });
    } catch (err) {
      finish(failure(err));
      return;
    }
    if (request.timeoutMs !== undefined) {
      timer = setTimeout(() => req.destroy(Object.assign(new Error('the request timed out'), { code: 'ETIMEDOUT' })), request.timeoutMs);
    }
    req.on('error', (err) => finish(failure(err)));
    req.on('response', (res) => collect(res, request.maxBodyBytes, finish));
    req.end(request.body === undefined ? undefined : Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength));
  });
}

parentPort!.on('message', ({ job, port, flag }: { job: Job; port: import('node:worker_threads').MessagePort; flag: Int32Array }) => {
  const work = job.op === 'lookup' ? resolveName(job.name, job.servers) : fetchOnce(job.request);
  void work.catch(failure).then((result) => {
    port.postMessage(result);
    port.close();
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  });
});
