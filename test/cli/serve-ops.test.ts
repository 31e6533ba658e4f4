/**
 * `serve` as operations run it: the address as the first line on stderr and only JSON lines on
 * stdout, the admin listener (/metrics parsed by a strict Prometheus text reader, /healthz,
 * /readyz), draining on SIGTERM (in-flight requests finish, readiness fails first, exit 0, no
 * accepted request lost under load), and metrics summed over `--workers`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parsePrometheusText, total } from '../helpers/prometheus-text.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const APP = fileURLToPath(new URL('../../fixtures/http/wagi_app.wasm', import.meta.url));

interface Served {
  child: ChildProcessByStdio<null, Readable, Readable>;
  url: string;
  admin: string | undefined;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts `serve` and waits for its announced addresses (the app's first on stderr, then the admin's). */
async function serve(args: string[], withAdmin: boolean): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  const lines = await new Promise<string[]>((resolve, reject) => {
    const check = () => {
      const l = err.split('\n');
      if (l.length > (withAdmin ? 2 : 1)) resolve(l);
    };
    child.stderr.on('data', (d: Buffer) => {
      err += d;
      check();
    });
    void exit.then((code) => reject(new Error(`serve exited (${code}) before announcing: ${err}`)));
  });
  const first = /^wasm-sandbox: serving .* on (http:\/\/127\.0\.0\.1:(\d+)\/)$/.exec(lines[0]);
  const admin = withAdmin ? /(http:\/\/127\.0\.0\.1:\d+)\//.exec(lines.find((l) => l.includes('operations endpoints')) ?? '')?.[1] : undefined;
  if (!first || first[2] === '0' || (withAdmin && !admin)) {
    child.kill('SIGKILL');
    assert.fail(`the first stderr line gives the URL with the port picked, then the admin's: ${err}`);
  }
  return { child, url: first[1].slice(0, -1), admin, stdout: () => out, stderr: () => err, exit };
}

/** One request on a connection of its own: the status and whole body, or the connection error. */
function get(url: string): Promise<{ status: number; body: string } | { error: string; responded: boolean }> {
  return new Promise((resolve) => {
    let responded = false;
    const req = request(url, { agent: false }, (res) => {
      responded = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, responded }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, responded }));
    req.end();
  });
}

async function status(url: string): Promise<number> {
  const r = await get(url);
  if (!('status' in r)) throw new Error(`${url}: ${r.error}`);
  return r.status;
}

async function metrics(admin: string) {
  const r = await get(`${admin}/metrics`);
  assert.ok('status' in r && r.status === 200, `/metrics answered: ${JSON.stringify(r)}`);
  return parsePrometheusText(r.body);
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting: ${what}`);
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('serve --admin: probes, Prometheus metrics, and a SIGTERM drain that finishes the request in flight', async () => {
  const s = await serve(['--admin', '127.0.0.1:0', '--timeout', '3s', APP], true);
  try {
    assert.equal(await status(`${s.admin}/healthz`), 200);
    assert.equal(await status(`${s.admin}/readyz`), 200);
    assert.equal(await status(`${s.admin}/nope`), 404);
    assert.equal(await status(`${s.url}/hello`), 200);
    assert.equal(await status(`${s.url}/hello`), 200);
    assert.equal(await status(`${s.url}/trap`), 500);
    // The app's port never reaches the admin routes: the guest answers this one (its 404).
    const routed = await get(`${s.url}/metrics`);
    assert.ok('body' in routed && routed.body.includes('no route for /metrics'));

    const m = await metrics(s.admin!);
    const guest = { guest: 'wagi_app.wasm' };
    assert.equal(total(m, 'wasm_sandbox_http_requests_total', { ...guest, status: '200', outcome: 'ok' }), 2);
    assert.equal(total(m, 'wasm_sandbox_http_requests_total', { ...guest, status: '500', outcome: 'trap' }), 1);
    assert.equal(total(m, 'wasm_sandbox_http_requests_total', { status: '404' }), 1);
    assert.equal(total(m, 'wasm_sandbox_guest_traps_total', guest), 1);
    assert.equal(total(m, 'wasm_sandbox_http_request_duration_seconds', guest, 'wasm_sandbox_http_request_duration_seconds_count'), 4);
    assert.equal(m.get('wasm_sandbox_http_request_duration_seconds')?.type, 'histogram');
    for (const name of ['wasm_sandbox_http_requests_in_flight', 'wasm_sandbox_pool_saturation_ratio', 'wasm_sandbox_guest_instances', 'wasm_sandbox_limit_hits_total', 'wasm_sandbox_security_violations_total', 'wasm_sandbox_http_saturated_total']) {
      assert.ok(m.has(name), `${name} is exported`);
    }

    // A request that will run to its deadline is in flight when the signal comes.
    const looping = get(`${s.url}/loop`);
    await until(async () => total(await metrics(s.admin!), 'wasm_sandbox_http_requests_in_flight') === 1, 'the loop in flight');
    s.child.kill('SIGTERM');
    await until(async () => (await get(`${s.admin}/readyz`).then((r) => ('status' in r ? r.status : 0))) === 503, '/readyz 503 while draining');
    assert.equal(await status(`${s.admin}/healthz`), 200, 'alive while draining');
    const loop = await looping;
    assert.ok('status' in loop && loop.status === 504, `the request in flight was answered at its deadline: ${JSON.stringify(loop)}`);
    assert.equal(await s.exit, 0);
  } finally {
    s.child.kill('SIGKILL');
  }
  // stdout is the access log alone, one JSON line per request with the process that served it.
  const log = jsonLines(s.stdout());
  assert.deepEqual(log.map((l) => l.path), ['/hello', '/hello', '/trap', '/metrics', '/loop']);
  assert.ok(log.every((l) => l.pid === s.child.pid && l.worker === undefined));
  assert.ok(!s.stdout().includes('wasm-sandbox:'), 'no human message on stdout');
});

test('serve: a drain under load loses no request it accepted', async () => {
  const s = await serve(['--timeout', '5s', APP], false);
  const results: Awaited<ReturnType<typeof get>>[] = [];
  let stopped = false;
  // Bounded clients, each one request at a time on a fresh connection, until the server refuses them.
  const client = async () => {
    for (let i = 0; i < 3000; i++) {
      const r = await get(`${s.url}/hello`);
      results.push(r);
      if ('error' in r && stopped) return;
    }
  };
  try {
    const clients = [client(), client(), client(), client()];
    await until(() => results.length >= 40, 'load under way');
    stopped = true;
    s.child.kill('SIGTERM');
    await Promise.all(clients);
    assert.equal(await s.exit, 0);
  } finally {
    s.child.kill('SIGKILL');
  }
  const answered = results.filter((r) => 'status' in r);
  const failed = results.filter((r) => 'error' in r) as { error: string; responded: boolean }[];
  assert.ok(answered.every((r) => r.status === 200 && r.body === 'Hello, world!\n'), 'every answer is whole and 200');
  assert.ok(failed.every((f) => !f.responded && ['ECONNREFUSED', 'ECONNRESET'].includes(f.error)), `only connections never served fail: ${JSON.stringify(failed.slice(0, 3))}`);
  // Every request the server took is in its log with a 200, and the client got each of those answers.
  const log = jsonLines(s.stdout());
  assert.ok(log.every((l) => l.status === 200));
  assert.equal(log.length, answered.length);
  assert.ok(answered.length >= 40);
});

test('serve --workers 2: one announced address, each log line names its worker, metrics summed over the workers', async () => {
  const s = await serve(['--workers', '2', '--admin', '127.0.0.1:0', APP], true);
  try {
    await until(async () => (await status(`${s.admin}/readyz`)) === 200, 'a worker serving');
    for (let i = 0; i < 8; i++) assert.equal(await status(`${s.url}/hello`), 200);
    // Both workers answer the primary's collection, whichever served the requests.
    const m = await metrics(s.admin!);
    assert.equal(total(m, 'wasm_sandbox_http_requests_total', { status: '200' }), 8);
    assert.equal(total(m, 'wasm_sandbox_http_request_duration_seconds', {}, 'wasm_sandbox_http_request_duration_seconds_count'), 8);
    s.child.kill('SIGTERM');
    assert.equal(await s.exit, 0);
  } finally {
    s.child.kill('SIGKILL');
  }
  const log = jsonLines(s.stdout());
  assert.equal(log.length, 8);
  for (const l of log) {
    assert.ok(l.worker === 1 || l.worker === 2, `worker named: ${JSON.stringify(l)}`);
    assert.ok(typeof l.pid === 'number' && l.pid !== s.child.pid, 'served by a worker process');
  }
  assert.equal(s.stderr().split('\n').filter((l) => l.includes('serving ')).length, 1, 'the address is announced once');
});
