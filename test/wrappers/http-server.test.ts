import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { request, type IncomingMessage } from 'node:http';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { HttpServerWrapper } from '../../src/wrappers/http/http-server-wrapper.ts';
import { InvalidArguments, InvalidModule } from '../../src/index.ts';
import { until } from './http/helpers.ts';

const APP = fileURLToPath(new URL('../../fixtures/http/wagi_app.wasm', import.meta.url));

for (const runtime of ['worker', 'inprocess'] as const) {
  describe(`HttpServerWrapper, ${runtime} runtime`, () => {
    const log = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    log.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n').map((l) => JSON.parse(l))));
    const wrapper = new HttpServerWrapper({ accessLog: log });
    let id: string;
    let url: string;
    before(async () => {
      id = await wrapper.startServer({
        path: APP,
        runtime,
        requestTimeoutMs: 300,
        maxRequestBodyBytes: 1024,
        resourceLimits: { io: { maxOutputBytes: '256KiB' } },
        pool: { maxConcurrency: 4 },
      });
      url = wrapper.address(id).url;
    });
    after(() => wrapper.close());

    test('routes, statuses and headers from the guest', async () => {
      const hello = await fetch(`${url}/hello`);
      assert.equal(hello.status, 200);
      assert.equal(hello.headers.get('content-type'), 'text/plain');
      // A response the guest finishes within one turn of the event loop (on the server's thread it
      // always does) goes out whole, with its length rather than chunked.
      if (runtime === 'inprocess') {
        assert.equal(hello.headers.get('content-length'), '14');
        assert.equal(hello.headers.get('transfer-encoding'), null);
      }
      assert.equal(await hello.text(), 'Hello, world!\n');
      const created = await fetch(`${url}/created`);
      assert.equal(created.status, 201);
      assert.equal(created.headers.get('x-custom'), 'yes');
      assert.deepEqual(await created.json(), { ok: true });
      const redirect = await fetch(`${url}/redirect`, { redirect: 'manual' });
      assert.equal(redirect.status, 302);
      assert.equal(redirect.headers.get('location'), '/hello');
      const missing = await fetch(`${url}/nope?x=1`);
      assert.equal(missing.status, 404);
      assert.equal(await missing.text(), 'no route for /nope\n');
    });

    test('request body, method and headers reach the guest; credentials do not', async () => {
      const r = await fetch(`${url}/echo`, { method: 'PUT', body: 'ping', headers: { 'x-test': 'abc', 'content-type': 'text/x-test', authorization: 'Bearer secret' } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-echo-method'), 'PUT');
      assert.equal(r.headers.get('x-echo-header'), 'abc');
      assert.equal(r.headers.get('content-type'), 'text/x-test');
      assert.equal(await r.text(), 'ping');
    });

    test('large response bodies stream through intact', async () => {
      const r = await fetch(`${url}/big?n=200000`);
      // Past what is held back, output is sent while the guest still writes: no length known up front.
      assert.equal(r.headers.get('transfer-encoding'), 'chunked');
      const text = await r.text();
      assert.equal(text.length, 200000);
      assert.equal(text.slice(0, 30), 'abcdefghijklmnopqrstuvwxyzabcd');
      assert.equal(text.at(-1), String.fromCharCode(97 + (199999 % 26)));
    });

    test('a trap is a 500, a deadline a 504, a limit a 503 — with no internal detail', async () => {
      const trap = await fetch(`${url}/trap`);
      assert.equal(trap.status, 500);
      assert.equal(await trap.text(), 'Internal Server Error\n');
      const loop = await fetch(`${url}/loop`);
      assert.equal(loop.status, 504);
      assert.equal(await loop.text(), 'Gateway Timeout\n');
      // Over maxOutputBytes: the response has started, so the connection is cut rather than completed.
      await assert.rejects(fetch(`${url}/big?n=1000000`).then((r) => r.text()));
      // The client sees the cut before the server has logged it: wait for the line, then count.
      await until(() => lines.some((l) => l.path === '/big'));
      assert.equal(lines.filter((l) => l.path === '/big' && l.outcome === 'limit').length, 1);
    });

    test('a body over the limit is a 413 and the guest never runs', async () => {
      const before = lines.length;
      const r = await fetch(`${url}/echo`, { method: 'POST', body: 'x'.repeat(5000) });
      assert.equal(r.status, 413);
      assert.equal(lines.at(-1)!.outcome, 'too-large');
      assert.equal(lines.length, before + 1);
    });

    test('a chunked body over the limit is refused: a 413, or a cut answer once the guest has begun it', async () => {
      const { port } = wrapper.address(id);
      const r = await post(port, '/echo', [new Uint8Array(600), new Uint8Array(600), new Uint8Array(600)]);
      // The streamed body meets the limit while /echo, which answers before it reads, is already replying.
      if (runtime === 'worker') assert.ok(r.cut || r.status === 413, JSON.stringify(r));
      else assert.equal(r.status, 413);
      assert.equal(lines.at(-1)!.outcome, 'too-large');
    });

    test('requests that loop or trap leave concurrent requests served', async () => {
      const bad = [fetch(`${url}/loop`), fetch(`${url}/trap`)];
      const good = await Promise.all([1, 2].map(() => fetch(`${url}/hello`).then(async (r) => [r.status, await r.text()])));
      assert.deepEqual(good, [[200, 'Hello, world!\n'], [200, 'Hello, world!\n']]);
      assert.deepEqual((await Promise.all(bad)).map((r) => r.status), [504, 500]);
    });

    // In-process guests run one at a time on the server's thread, so only the worker runtime saturates.
    if (runtime === 'worker') test('saturation answers 503 with Retry-After', async () => {
      const loops = Array.from({ length: 4 }, () => fetch(`${url}/loop`));
      await new Promise((r) => setTimeout(r, 50));
      const extra = await fetch(`${url}/hello`);
      assert.equal(extra.status, 503);
      assert.equal(extra.headers.get('retry-after'), '1');
      await Promise.all(loops);
      assert.equal((await fetch(`${url}/hello`)).status, 200, 'capacity comes back');
    });

    test('the guest cannot read host files it was not granted', async () => {
      assert.equal(await (await fetch(`${url}/secret`)).text(), 'denied\n');
    });

    test('access log lines and metrics', () => {
      const entry = lines.find((l) => l.path === '/hello')!;
      for (const key of ['time', 'server', 'method', 'path', 'status', 'durationMs', 'bytesIn', 'bytesOut', 'outcome']) assert.ok(key in entry, key);
      const trap = lines.find((l) => l.outcome === 'trap')!;
      assert.equal(trap.error, 'TRAP');
      const m = wrapper.metrics(id);
      assert.ok(m.requests >= 15);
      assert.ok(m.byStatus['200'] >= 5);
      assert.ok(m.byOutcome.trap >= 2 && m.byOutcome.timeout >= 2);
      if (runtime === 'worker') assert.ok(m.byOutcome.overloaded >= 1);
      assert.equal(m.inFlight, 0);
      assert.deepEqual(wrapper.listServers().map((s) => s.id), [id]);
    });
  });
}

/**
 * Sends a chunked POST. With `afterFirst` the rest of the body waits until the response has begun, so
 * the request only completes if the guest answers before it has the whole body.
 */
function post(port: number, path: string, chunks: Uint8Array[], afterFirst?: (res: IncomingMessage) => Promise<void>): Promise<{ status: number; body: Buffer; cut: boolean }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const parts: Buffer[] = [];
    // A refusal may close the connection under later writes, or cut an answer already begun.
    const cut = () => resolve({ status, body: Buffer.concat(parts), cut: true });
    const req = request({ port, host: '127.0.0.1', path, method: 'POST' }, (res) => {
      status = res.statusCode!;
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status, body: Buffer.concat(parts), cut: !res.complete }));
      res.on('error', cut);
      if (afterFirst) void afterFirst(res).then(() => sendRest(1), reject);
    });
    req.on('error', cut);
    const sendRest = async (from: number) => {
      for (const chunk of chunks.slice(from)) {
        if (!req.write(chunk)) await once(req, 'drain');
        await new Promise((r) => setImmediate(r));
      }
      req.end();
    };
    req.flushHeaders();
    if (afterFirst) req.write(chunks[0]);
    else void sendRest(0);
  });
}

describe('HttpServerWrapper, WAGI request bodies stream on the worker runtime', () => {
  const wrapper = new HttpServerWrapper();
  let port: number;
  before(async () => {
    const id = await wrapper.startServer({
      path: APP,
      requestTimeoutMs: 20_000,
      maxRequestBodyBytes: '4MiB',
      resourceLimits: { io: { maxOutputBytes: '8MiB' } },
    });
    port = wrapper.address(id).port;
  });
  after(() => wrapper.close());

  test('the guest echoes a multi-MB chunked body before it has all of it', { timeout: 30_000 }, async () => {
    const input = Buffer.alloc(3 * 1024 * 1024 + 5).map((_, i) => (i * 13) % 253);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < input.length; at += 256 * 1024) chunks.push(input.subarray(at, at + 256 * 1024));
    // The first chunk is more than the guest's reads, so it echoes part of it; only then does the rest follow.
    const firstEcho = (res: IncomingMessage) => once(res, 'readable').then(() => undefined);
    const r = await post(port, '/echo', chunks, firstEcho);
    assert.equal(r.status, 200);
    assert.equal(r.cut, false);
    assert.equal(r.body.length, input.length);
    assert.ok(r.body.equals(input));
  });

  test('a chunked body passing the limit while the guest reads it is cut off', async () => {
    const chunks = Array.from({ length: 6 }, () => new Uint8Array(1024 * 1024));
    const r = await post(port, '/echo', chunks);
    // /echo has begun its answer by then, so the limit can only show as a cut connection.
    assert.ok(r.cut || r.status === 413, JSON.stringify({ status: r.status, cut: r.cut, length: r.body.length }));
    assert.ok(r.body.length <= 4 * 1024 * 1024);
  });

  test('a declared length over the limit is refused up front', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: new Uint8Array(5 * 1024 * 1024) });
    assert.equal(r.status, 413);
  });
});

test('graceful stop lets requests in flight finish and refuses new connections', async () => {
  const wrapper = new HttpServerWrapper();
  const id = await wrapper.startServer({ path: APP, requestTimeoutMs: 400 });
  const { port } = wrapper.address(id);
  const inFlight = new Promise<number>((resolve, reject) => {
    request({ port, host: '127.0.0.1', path: '/loop' }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject).end();
  });
  await new Promise((r) => setTimeout(r, 50));
  const stopped = wrapper.stopServer(id);
  assert.equal(await inFlight, 504, 'the request in flight got its answer');
  await stopped;
  await assert.rejects(fetch(`http://127.0.0.1:${port}/hello`));
  await wrapper.close();
});

test('bad configurations are typed errors', async () => {
  const wrapper = new HttpServerWrapper();
  await assert.rejects(wrapper.startServer({} as never), InvalidArguments);
  await assert.rejects(wrapper.startServer({ module: new Uint8Array([1, 2, 3]) }), InvalidModule);
  await assert.rejects(wrapper.startServer({ path: fileURLToPath(new URL('../../fixtures/wat/add.wasm', import.meta.url)) }), InvalidArguments);
  await assert.rejects(wrapper.startServer({ path: APP, pool: { maxConcurrency: 0 } }), InvalidArguments);
  assert.throws(() => wrapper.address('server-99'), InvalidArguments);
  await wrapper.close();
});

describe('HttpServerWrapper, wasi:http/proxy component', () => {
  const wrapper = new HttpServerWrapper();
  let url: string;
  let id: string;
  // The guest's outgoing request blocks this thread while it waits, so the upstream lives in another process.
  const upstream = spawn(process.execPath, ['-e', "require('http').createServer((q, s) => s.end('upstream says hi')).listen(0, '127.0.0.1', function () { console.log(this.address().port) })"], { stdio: ['ignore', 'pipe', 'inherit'] });
  let port = 0;
  before(async () => {
    port = Number((await once(upstream.stdout!, 'data'))[0].toString().trim());
    id = await wrapper.startServer({
      path: fileURLToPath(new URL('../../fixtures/components/http-proxy.wasm', import.meta.url)),
      requestTimeoutMs: 5000,
      // A JavaScript (StarlingMonkey) component reads the clock as it starts: it needs the grant.
      capabilities: { network: { allow: [`127.0.0.1:${port}`] }, clock: 'real' },
    });
    url = wrapper.address(id).url;
  });
  after(async () => {
    await wrapper.close();
    upstream.kill();
  });

  test('serves requests with the component handler, reusing the instance', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${url}/hello?i=${i}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-fixture'), 'http-proxy');
      assert.equal(await r.text(), `hello from GET /hello?i=${i}`);
    }
    const post = await fetch(`${url}/submit`, { method: 'POST', body: 'payload' });
    assert.equal(await post.text(), 'hello from POST /submit payload');
    assert.equal(wrapper.listServers()[0].kind, 'wasi-http');
  });

  test('outgoing requests reach only allowlisted hosts; a denial is an error the guest sees', async () => {
    const allowed = await fetch(`${url}/fetch?url=${encodeURIComponent(`http://127.0.0.1:${port}/`)}`);
    assert.match(await allowed.text(), /200/);
    const denied = await fetch(`${url}/fetch?url=${encodeURIComponent('http://127.0.0.2:9/')}`);
    assert.equal(denied.status, 502, 'the guest answers its own error status; the server did not trap');
    assert.match(await denied.text(), /fetch failed/);
    assert.equal(wrapper.metrics(id).byOutcome.trap, undefined);
  });
});

describe('HttpServerWrapper, wasi:http/proxy component written in WAT', () => {
  const log = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  log.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n').map((l) => JSON.parse(l))));
  const wrapper = new HttpServerWrapper({ accessLog: log });
  let id: string;
  let url: string;
  before(async () => {
    id = await wrapper.startServer({ path: fileURLToPath(new URL('../../fixtures/components/http-hello.wasm', import.meta.url)), pool: { maxInstances: 1 } });
    url = wrapper.address(id).url;
  });
  after(() => wrapper.close());

  test('answers every request from the same instance', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${url}/hello?i=${i}`, { method: i % 2 ? 'POST' : 'GET', body: i % 2 ? 'ignored' : undefined, headers: { 'x-request': String(i) } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'text/plain');
      assert.equal(r.headers.get('content-length'), '14');
      assert.equal(await r.text(), 'Hello, world!\n');
    }
    const m = wrapper.metrics(id);
    assert.deepEqual(m.byStatus, { 200: 5 });
    assert.deepEqual(m.byOutcome, { ok: 5 });
    assert.equal(m.bytesOut, 5 * 14);
    assert.equal(lines.length, 5);
  });

  test('requests at once each get their own answer', async () => {
    const bodies = await Promise.all(Array.from({ length: 8 }, () => fetch(`${url}/`).then((r) => r.text())));
    assert.deepEqual(bodies, Array(8).fill('Hello, world!\n'));
  });
});
