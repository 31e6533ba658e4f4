import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { HttpServerWrapper } from '../../../src/wrappers/http/http-server-wrapper.ts';
import { accessLog, ECHO, HELLO, openPost, until } from './helpers.ts';

describe('HttpServerWrapper, wasi:http component on worker threads: one bad request never affects others', () => {
  const log = accessLog();
  const wrapper = new HttpServerWrapper({ accessLog: log.stream });
  let id: string;
  let url: string;
  before(async () => {
    // The deadline only has to outlast a few ordinary requests on a busy machine.
    id = await wrapper.startServer({ path: ECHO, requestTimeoutMs: 4000, pool: { maxConcurrency: 4 } });
    url = wrapper.address(id).url;
  });
  after(() => wrapper.close());

  // A client can have its whole answer a moment before the server has counted the request done;
  // tests that count requests in flight start from none.
  const quiet = () => until(() => wrapper.metrics(id).inFlight === 0);

  test('a request that loops is stopped at its deadline (504) while other requests are served meanwhile', async () => {
    await quiet();
    let loopSettled = false;
    const looping = fetch(`${url}/loop`).then(async (r) => {
      loopSettled = true;
      return [r.status, await r.text()];
    });
    await until(() => wrapper.metrics(id).inFlight === 1);
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${url}/hello?i=${i}`);
      assert.deepEqual([r.status, await r.text()], [200, 'Hello, world!\n']);
    }
    assert.equal(loopSettled, false, 'the looping request was still in flight');
    assert.deepEqual(await looping, [504, 'Gateway Timeout\n']);
    // Its thread was terminated and replaced: serving goes on.
    const after = await Promise.all([1, 2, 3].map(() => fetch(`${url}/hello`).then(async (r) => [r.status, await r.text()])));
    assert.deepEqual(after, Array(3).fill([200, 'Hello, world!\n']));
    const loopLine = log.lines.find((l) => l.path === '/loop')!;
    assert.deepEqual([loopLine.status, loopLine.outcome, loopLine.error], [504, 'timeout', 'TIMEOUT']);
  });

  test('a trap is a 500 with no detail; the next request gets a fresh instance', async () => {
    const trap = await fetch(`${url}/trap`);
    assert.equal(trap.status, 500);
    assert.equal(await trap.text(), 'Internal Server Error\n');
    const line = log.lines.find((l) => l.path === '/trap')!;
    assert.deepEqual([line.status, line.outcome, line.error], [500, 'trap', 'TRAP']);
    assert.equal((await fetch(`${url}/hello`)).status, 200);
  });

  test('a request streaming a slow body holds only its own thread', async () => {
    const { req, reader } = await openPost(wrapper.address(id).port, '/echo');
    req.write('first');
    assert.equal((await reader.read(5)).toString(), 'first');
    // The guest now waits for the client's next bytes; others are served meanwhile.
    const hello = await fetch(`${url}/hello`);
    assert.equal(await hello.text(), 'Hello, world!\n');
    req.end('last');
    assert.equal((await reader.read(4)).toString(), 'last');
    assert.equal((await reader.rest()).cut, false);
  });

  test('saturation answers 503 with Retry-After, and capacity comes back', async () => {
    await quiet();
    const loops = Array.from({ length: 4 }, () => fetch(`${url}/loop`));
    await until(() => wrapper.metrics(id).inFlight === 4);
    const extra = await fetch(`${url}/hello`);
    assert.equal(extra.status, 503);
    assert.equal(extra.headers.get('retry-after'), '1');
    assert.deepEqual((await Promise.all(loops)).map((r) => r.status), [504, 504, 504, 504]);
    assert.equal((await fetch(`${url}/hello`)).status, 200);
  });

  test('metrics count every outcome', async () => {
    await quiet();
    const m = wrapper.metrics(id);
    assert.ok(m.byOutcome.timeout >= 5 && m.byOutcome.trap >= 1 && m.byOutcome.overloaded >= 1 && m.byOutcome.ok >= 9, JSON.stringify(m.byOutcome));
    assert.equal(wrapper.listServers()[0].kind, 'wasi-http');
  });
});

test('graceful stop lets component requests in flight finish, then refuses new connections', async () => {
  const wrapper = new HttpServerWrapper();
  const id = await wrapper.startServer({ path: ECHO, requestTimeoutMs: 30_000 });
  const { port } = wrapper.address(id);
  const { req, reader } = await openPost(port, '/echo');
  req.write('before stop;');
  assert.equal((await reader.read(12)).toString(), 'before stop;');
  const stopped = wrapper.stopServer(id);
  // The request in flight still streams both ways while the server stops.
  req.write('during stop;');
  assert.equal((await reader.read(12)).toString(), 'during stop;');
  req.end();
  assert.deepEqual(await reader.rest(), { body: Buffer.alloc(0), cut: false });
  await stopped;
  await assert.rejects(fetch(`http://127.0.0.1:${port}/hello`));
  await wrapper.close();
});

test('runtime inprocess still serves components, with whole bodies and a deadline', async () => {
  const wrapper = new HttpServerWrapper();
  const id = await wrapper.startServer({ path: ECHO, runtime: 'inprocess', requestTimeoutMs: 300 });
  const { url } = wrapper.address(id);
  const hello = await fetch(`${url}/hello`);
  assert.equal(hello.headers.get('content-length'), '14', 'the whole body is known before it is sent');
  assert.equal(await hello.text(), 'Hello, world!\n');
  const echo = await fetch(`${url}/echo`, { method: 'POST', body: 'whole body' });
  assert.equal(await echo.text(), 'whole body');
  assert.equal((await fetch(`${url}/loop`)).status, 504);
  assert.equal((await fetch(`${url}/trap`)).status, 500);
  await wrapper.close();
});

test('on worker threads, a body finished before its response was set goes out with a content-length', async () => {
  const wrapper = new HttpServerWrapper();
  const id = await wrapper.startServer({ path: HELLO, pool: { maxInstances: 1 } });
  const { port } = wrapper.address(id);
  // One request after another: each answer complete in one piece, from the instance the last one left.
  for (let i = 0; i < 5; i++) {
    const r = await new Promise<{ status: number; length: string | undefined; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: `/?i=${i}` }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, length: res.headers['content-length'], body }));
      }).on('error', reject).end();
    });
    assert.deepEqual(r, { status: 200, length: '14', body: 'Hello, world!\n' });
  }
  await wrapper.close();
});
