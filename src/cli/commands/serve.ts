import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AdminServer } from '../../wrappers/http/admin-server.ts';
import { HttpServerWrapper } from '../../wrappers/http/http-server-wrapper.ts';
import { promClient } from '../../wrappers/http/prometheus-metrics.ts';
import { hostPortOption, parseArgsAnywhere, UsageError, wholeNumberOption, type OptionSpec } from '../args.ts';
import { LIMIT_OPTIONS, POLICY_OPTIONS, runPolicy } from './run.ts';

export { exitFor } from '../exit-codes.ts';

export const SERVE_HELP = `Usage: wasm-sandbox serve [options] FILE.wasm [options]

Serves a sandboxed HTTP app, either
  - a wasi:http/proxy component (what wasmtime serve and Spin run), each request on a worker
    thread holding an instance (reused after a clean answer), bodies streamed both ways; or
  - a WASI command following the WAGI convention (request as CGI environment variables plus the
    body on stdin; response headers, a blank line and the body on stdout), in a fresh instance
    per request.
Every request has its own deadline, fuel and memory limits; a request past its deadline has its
thread stopped while others go on. A trap answers 500, a deadline 504, a limit 503, a body over
the limit 413, saturation 503 with Retry-After; the client never sees the details.

The first line on stderr gives the address ("... on http://127.0.0.1:8080/"; with --listen
HOST:0, the free port picked); stdout carries only the JSON-lines access log. On SIGTERM or
SIGINT the server drains: it stops accepting, /readyz answers 503, requests in flight finish
(each within its deadline), and it exits 0.

Options:
  --listen HOST:PORT        address to listen on (default 127.0.0.1:8080; port 0 picks a free one)
  --workers N               processes to fork with node:cluster, sharing the port (default 1;
                            0 = one per core); scale further with any load balancer in front
  --max-concurrency N       requests handled at once per process (default 16)
  --max-body SIZE           largest request body (default 1MiB)
  --timeout DURATION        deadline per request (default 10s)
  --access-log FILE         JSON-lines access log (default: stdout)
  --admin HOST:PORT         operations endpoints, never routed to the guest: /metrics
                            (Prometheus text; summed over --workers), /healthz, /readyz
  --no-reuse                a fresh component instance for every request (for guests that serve
                            one request per instance, such as a JavaScript 'fetch' event
                            listener); also the policy key serve.reuseInstances: false
  --policy FILE, --dir, --ro-dir, --env, --max-memory, --fuel, --max-fds, --allow-net
                            as for 'wasm-sandbox run'

Example:
  wasm-sandbox serve --listen 127.0.0.1:8080 --admin 127.0.0.1:9090 --timeout 2s app.wasm
`;

const SPEC: Record<string, OptionSpec> = {
  ...POLICY_OPTIONS,
  ...LIMIT_OPTIONS,
  listen: { value: true },
  workers: { value: true },
  'max-concurrency': { value: true },
  'max-body': { value: true },
  'access-log': { value: true },
  admin: { value: true },
  'no-reuse': { value: false },
};

/** Human messages go to stderr: stdout is the access log's. */
const say = (line: string): void => void process.stderr.write(`wasm-sandbox: ${line}\n`);

/** Resolves on the first SIGTERM or SIGINT. */
function stopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export async function serveCommand(argv: string[]): Promise<number> {
  const args = parseArgsAnywhere(argv, SPEC);
  if (!args.file) throw new UsageError('serve needs a FILE.wasm');
  const listen = hostPortOption('listen', args.options.get('listen')?.[0] ?? '127.0.0.1:8080');
  const adminValue = args.options.get('admin')?.[0];
  const admin = adminValue === undefined ? undefined : hostPortOption('admin', adminValue);
  const workers = wholeNumberOption('workers', args.options.get('workers')?.[0], 1, true) || availableParallelism();
  const maxConcurrency = wholeNumberOption('max-concurrency', args.options.get('max-concurrency')?.[0], 16);
  // The per-request deadline is --timeout; the policy's own call timeout does not apply twice.
  const options = new Map(args.options);
  const timeout = options.get('timeout')?.[0] ?? '10s';
  options.delete('timeout');
  const { capabilities, resourceLimits, serve } = runPolicy(options, { cli: false });
  const reuse = !args.flags.has('no-reuse') && serve.reuseInstances !== false;

  // Listened for from the start: a signal during start-up still ends in a drain and exit 0.
  const stop = stopSignal();
  if (workers > 1 && cluster.isPrimary) return primary(args.file, workers, admin, stop);

  const wrapper = new HttpServerWrapper({ accessLog: args.options.get('access-log')?.[0] ?? process.stdout, notice: say });
  const id = await wrapper.startServer({
    path: args.file,
    listen,
    capabilities,
    resourceLimits,
    requestTimeoutMs: timeout,
    maxRequestBodyBytes: args.options.get('max-body')?.[0],
    pool: { maxConcurrency, reuse },
    // In a cluster the primary serves the metrics of every worker.
    ...(cluster.isWorker ? { clusterMetrics: admin !== undefined } : { admin }),
  });
  if (cluster.isPrimary) {
    say(`serving ${args.file} on ${wrapper.address(id).url}/`);
    if (admin) say(`operations endpoints on ${wrapper.adminAddress(id).url}/ (/metrics, /healthz, /readyz)`);
  }
  await stop;
  if (cluster.isPrimary) say('draining: finishing the requests in flight');
  await wrapper.close();
  // A forked worker's IPC channel would keep it alive after the server has closed.
  if (cluster.isWorker) cluster.worker?.disconnect();
  return 0;
}

/**
 * The primary of `--workers N`: forks the workers (each a whole server on the shared port), serves
 * the operations endpoints for all of them, passes SIGTERM on, and exits once they have drained.
 */
async function primary(file: string, workers: number, admin: { host: string; port: number } | undefined, stop: Promise<void>): Promise<number> {
  const listening = new Set<Worker>();
  let draining = false;
  let failed = 0;
  let address: string | undefined;
  let adminServer: AdminServer | undefined;
  // The app's address is the first line on stderr (tools wait for it there), then the admin's.
  const announce = () => {
    if (address === undefined || (admin && !adminServer)) return;
    say(`serving ${file} with ${workers} processes on ${address}`);
    if (adminServer) say(`operations endpoints on ${adminServer.address().url}/ (/metrics, /healthz, /readyz)`);
  };
  const exited = new Promise<void>((resolve) => {
    let alive = workers;
    cluster.on('exit', (worker, code) => {
      listening.delete(worker);
      if (code !== 0) failed = code ?? 1;
      if (--alive === 0) resolve();
    });
  });
  cluster.on('listening', (worker, at) => {
    listening.add(worker);
    if (address !== undefined) return;
    // Workers that listen on port 0 are all given the port the first one got.
    const host = at.address ?? '127.0.0.1';
    address = `http://${host.includes(':') ? `[${host}]` : host}:${at.port}/`;
    announce();
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  if (admin) {
    const { AggregatorRegistry } = await promClient();
    const aggregator = new AggregatorRegistry();
    adminServer = await AdminServer.start(admin, {
      metrics: async () => ({ contentType: aggregator.contentType, text: await aggregator.clusterMetrics() }),
      notReady: () => (draining ? 'draining' : listening.size === 0 ? 'no worker is serving yet' : undefined),
    });
    announce();
  }
  const stopped = stop.then(() => {
    draining = true;
    say('draining: finishing the requests in flight');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  });
  await Promise.race([exited, stopped.then(() => exited)]);
  await adminServer?.close();
  return failed;
}
