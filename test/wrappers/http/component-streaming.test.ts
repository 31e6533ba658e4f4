import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HttpServerWrapper } from '../../../src/wrappers/http/http-server-wrapper.ts';
import { accessLog, ECHO, openPost, postChunks, until } from './helpers.ts';

describe('HttpServerWrapper, wasi:http component on worker threads: bodies stream', () => {
  const log = accessLog();
  const wrapper = new HttpServerWrapper({ accessLog: log.stream });
  let id: string;
  let port: number;
  before(async () => {
    id = await wrapper.startServer({ path: ECHO, requestTimeoutMs: 30_000, maxRequestBodyBytes: '64KiB' });
    port = wrapper.address(id).port;
  });
  after(() => wrapper.close());

  test('the head arrives before any body is sent, and each chunk is echoed before the next is sent', async () => {
    // Would never get past `openPost` if the response head waited for the body, nor past a read if
    // either body were buffered: the client sends a chunk only once the previous one came back.
    const { req, res, reader } = await openPost(port, '/echo');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    const sent: Buffer[] = [];
    for (let i = 0; i < 6; i++) {
      const chunk = Buffer.from(`chunk ${i}:${'x'.repeat(i * 700)};`);
      sent.push(chunk);
      req.write(chunk);
      assert.deepEqual(await reader.read(chunk.length), chunk, `the echo of chunk ${i}`);
    }
    req.end();
    const { body, cut } = await reader.rest();
    assert.equal(cut, false);
    assert.equal(body.length, 0, 'nothing beyond the echoes');
    // The client can have its whole answer a moment before the server logs the request.
    await until(() => log.lines.some((l) => l.path === '/echo'));
    const line = log.lines.find((l) => l.path === '/echo')!;
    assert.equal(line.outcome, 'ok');
    assert.equal(line.bytesIn, Buffer.concat(sent).length);
    assert.equal(line.bytesOut, Buffer.concat(sent).length);
  });

  test('a response far larger than the rings reaches a slow reader intact', async () => {
    const { req, reader } = await openPost(port, '/big');
    req.end();
    // Read in small steps with pauses between them, so the guest keeps running into a full ring.
    const got: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      got.push(await reader.read(4096));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { body, cut } = await reader.rest();
    assert.equal(cut, false);
    const all = Buffer.concat([...got, body]);
    assert.equal(all.length, 4 * 1024 * 1024);
    for (const at of [0, 4095, 4096 + 300, all.length - 1]) assert.equal(all[at], (at % 4096) % 251, `byte ${at}`);
  });

  test('a client that goes away mid-answer frees its thread: the rest is dropped and serving goes on', async () => {
    const { req, res, reader } = await openPost(port, '/big');
    req.end();
    await reader.read(4096);
    res.destroy();
    // The guest's later writes find no reader: the server drops them and the request ends.
    await until(() => wrapper.metrics(id).inFlight === 0);
    const hello = await fetch(`http://127.0.0.1:${port}/hello`);
    assert.equal(await hello.text(), 'Hello, world!\n');
  });

  test('a body that passes the limit while the guest reads it is a 413, or a cut answer once the guest has begun it', async () => {
    const chunks = Array.from({ length: 5 }, () => new Uint8Array(20 * 1024));
    const drained = await postChunks(port, '/drain', chunks);
    assert.equal(drained.status, 413, 'the guest had not answered yet');
    assert.equal(drained.body.toString(), 'Payload Too Large\n');
    // The echo's head is in before any of its body is sent: the failure can only show as a cut.
    const { req, reader } = await openPost(port, '/echo');
    req.on('error', () => {});
    for (const chunk of chunks) req.write(chunk);
    req.end();
    const echoed = await reader.rest();
    assert.equal(echoed.cut, true, 'the client sees the answer incomplete rather than whole');
    assert.ok(echoed.body.length <= 64 * 1024);
    await until(() => log.lines.filter((l) => l.outcome === 'too-large').length === 2);
    assert.deepEqual(log.lines.filter((l) => l.outcome === 'too-large').map((l) => l.path), ['/drain', '/echo']);
  });

  test('a declared length over the limit is refused before the guest runs', async () => {
    await until(() => wrapper.metrics(id).inFlight === 0);
    const before = log.lines.length;
    const r = await fetch(`http://127.0.0.1:${port}/drain`, { method: 'POST', body: new Uint8Array(65 * 1024) });
    assert.equal(r.status, 413);
    assert.equal(log.lines.length, before + 1);
    assert.equal(log.lines.at(-1)!.bytesIn, 0);
  });

  test('a body within the limit reaches a guest that reads it all before answering', async () => {
    const before = log.lines.length;
    const r = await postChunks(port, '/drain', [new Uint8Array(30 * 1024), new Uint8Array(30 * 1024)]);
    assert.deepEqual([r.status, r.body.toString(), r.cut], [200, 'drained\n', false]);
    await until(() => log.lines.length === before + 1);
    assert.equal(log.lines.at(-1)!.bytesIn, 60 * 1024);
  });
});
