import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { HttpServerWrapper } from '../../wrappers/http/http-server-wrapper.ts';
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

Options:
  --listen HOST:PORT        address to listen on (default 127.0.0.1:8080)
  --workers N               processes to fork with node:cluster, sharing the port (default 1;
                            0 = one per core); scale further with any load balancer in front
  --max-concurrency N       requests handled at once per process (default 16)
  --max-body SIZE           largest request body (default 1MiB)
  --timeout DURATION        deadline per request (default 10s)
  --access-log FILE         JSON-lines access log (default: stdout)
  --policy FILE, --dir, --ro-dir, --env, --max-memory, --fuel, --max-fds, --allow-net
                            as for 'wasm-sandbox run'

Example:
  wasm-sandbox serve --listen 127.0.0.1:8080 --timeout 2s --max-memory 64MiB app.wasm
`;

const SPEC: Record<string, OptionSpec> = {
  ...POLICY_OPTIONS,
  ...LIMIT_OPTIONS,
  listen: { value: true },
  workers: { value: true },
  'max-concurrency': { value: true },
  'max-body': { value: true },
  'access-log': { value: true },
};

export async function serveCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const args = parseArgsAnywhere(argv, SPEC);
  if (!args.file) throw new UsageError('serve needs a FILE.wasm');
  const listen = hostPortOption('listen', args.options.get('listen')?.[0] ?? '127.0.0.1:8080');
  const workers = wholeNumberOption('workers', args.options.get('workers')?.[0], 1, true) || availableParallelism();
  const maxConcurrency = wholeNumberOption('max-concurrency', args.options.get('max-concurrency')?.[0], 16);
  // The per-request deadline is --timeout; the policy's own call timeout does not apply twice.
  const options = new Map(args.options);
  const timeout = options.get('timeout')?.[0] ?? '10s';
  options.delete('timeout');
  const { capabilities, resourceLimits } = runPolicy(options, { cli: false });

  if (workers > 1 && cluster.isPrimary) {
    for (let i = 0; i < workers; i++) cluster.fork();
    out(`wasm-sandbox: serving ${args.file} on http://${listen.host}:${listen.port} with ${workers} processes`);
    await new Promise<void>((resolve) => {
      let alive = workers;
      cluster.on('exit', () => {
        if (--alive === 0) resolve();
      });
      const stop = () => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  }

  const wrapper = new HttpServerWrapper({ accessLog: args.options.get('access-log')?.[0] ?? process.stdout });
  const id = await wrapper.startServer({
    path: args.file,
    listen,
    capabilities,
    resourceLimits,
    requestTimeoutMs: timeout,
    maxRequestBodyBytes: args.options.get('max-body')?.[0],
    pool: { maxConcurrency },
  });
  if (cluster.isPrimary) out(`wasm-sandbox: serving ${args.file} on ${wrapper.address(id).url}`);
  await new Promise<void>((resolve) => {
    const stop = () => void wrapper.close().then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // A forked worker's IPC channel would keep it alive after the server has closed.
  if (cluster.isWorker) cluster.worker?.disconnect();
  return 0;
}
