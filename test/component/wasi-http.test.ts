import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Capabilities, type Violation } from '../../src/index.ts';
import { load, peerThread, runtime, text } from './helpers.ts';

/**
 * An HTTP server on another thread: the guest's outgoing request blocks this thread until the
 * response arrives, so a server on this thread's event loop could never answer.
 */
async function upstream(): Promise<{ port: number; close(): Promise<number> }> {
  return peerThread(`
    const server = require('node:http').createServer((req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://localhost:' + server.address().port + '/x' });
        return res.end();
      }
      res.end('upstream says hi to ' + req.url);
    });
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
    parentPort.on('message', () => server.close(() => process.exit(0)));
  `);
}

async function proxy(capabilities: Capabilities, violations: Violation[] = []) {
  const rt = await runtime();
  return rt.instantiate(await load('http-proxy'), { capabilities, onViolation: (v) => violations.push(v) });
}

test('the wasi:http/proxy fixture serves requests (smoke test), several per instance', async () => {
  const instance = await proxy(Capabilities.captured());
  for (const path of ['/', '/a?b=c', '/again']) {
    const response = await instance.handleHttpRequest({ method: 'GET', path });
    assert.equal(response.status, 200);
    assert.equal(text(response.body), `hello from GET ${path}`);
    assert.ok(response.headers.some(([k, v]) => k === 'x-fixture' && v === 'http-proxy'));
  }
  const posted = await instance.handleHttpRequest({ method: 'POST', path: '/echo', body: 'payload', headers: { 'content-type': 'text/plain' } });
  assert.equal(text(posted.body), 'hello from POST /echo payload');
});

test('outgoing HTTP outside the policy gets the WIT error HTTP-request-denied, not a trap', async () => {
  const violations: Violation[] = [];
  const instance = await proxy(Capabilities.captured(), violations);
  const response = await instance.handleHttpRequest({ path: `/fetch?url=${encodeURIComponent('http://example.com/')}` });
  assert.equal(response.status, 502, 'the guest saw a failed fetch and answered with it');
  assert.match(text(response.body), /^fetch failed/);
  assert.ok(violations.some((v) => v.capability === 'network' && /example\.com/.test(v.detail)));
  assert.equal(instance.usable, true);
  assert.equal((await instance.handleHttpRequest({ path: '/still-fine' })).status, 200);
});

test('the outgoing handler itself returns the denial as the error-code variant', async () => {
  const instance = await proxy(Capabilities.captured().with({ network: { allow: ['api.example.com:443'] } }));
  const imports = (instance as unknown as { live: { host: { imports: Record<string, Record<string, any>> } } }).live.host.imports;
  const { Fields, OutgoingRequest } = imports['wasi:http/types'];
  const request = (authority: string, scheme: 'HTTP' | 'HTTPS') => {
    const r = new OutgoingRequest(new Fields());
    r.setScheme({ tag: scheme });
    r.setAuthority(authority);
    return r;
  };
  const handle = imports['wasi:http/outgoing-handler'].handle;
  assert.throws(() => handle(request('evil.example.com', 'HTTPS'), undefined), (e: unknown) => (e as { tag: string }).tag === 'HTTP-request-denied');
  assert.throws(() => handle(request('api.example.com:8443', 'HTTPS'), undefined), (e: unknown) => (e as { tag: string }).tag === 'HTTP-request-denied', 'wrong port');
  assert.throws(() => handle(request('api.example.com', 'HTTP'), undefined), (e: unknown) => (e as { tag: string }).tag === 'HTTP-request-denied', 'http means port 80');
  assert.equal(typeof handle(request('api.example.com', 'HTTPS'), undefined), 'object', 'allowed: a future response (not sent until awaited)');
});

test('outgoing HTTP the policy allows reaches the server; redirects are not followed', async () => {
  const server = await upstream();
  try {
    for (const network of ['loopback', { allow: [`127.0.0.1:${server.port}`] }] as const) {
      const instance = await proxy(Capabilities.captured().with({ network }));
      const response = await instance.handleHttpRequest({ path: `/fetch?url=${encodeURIComponent(`http://127.0.0.1:${server.port}/x`)}` });
      assert.equal(text(response.body), 'upstream 200: upstream says hi to /x', JSON.stringify(network));
    }
    // The host never follows the redirect itself: the guest's own follow-up goes to localhost, which only loopback allows.
    const strict = await proxy(Capabilities.captured().with({ network: { allow: [`127.0.0.1:${server.port}`] } }));
    const redirected = await strict.handleHttpRequest({ path: `/fetch?url=${encodeURIComponent(`http://127.0.0.1:${server.port}/redirect`)}` });
    assert.notEqual(text(redirected.body), 'upstream 200: upstream says hi to /x');
    const loose = await proxy(Capabilities.captured().with({ network: 'loopback' }));
    const followed = await loose.handleHttpRequest({ path: `/fetch?url=${encodeURIComponent(`http://127.0.0.1:${server.port}/redirect`)}` });
    assert.match(text(followed.body), /^upstream (200: upstream says hi to \/x|302)/);
    const other = await proxy(Capabilities.captured().with({ network: { allow: [`127.0.0.1:${server.port + 1}`] } }));
    const denied = await other.handleHttpRequest({ path: `/fetch?url=${encodeURIComponent(`http://127.0.0.1:${server.port}/x`)}` });
    assert.equal(denied.status, 502);
  } finally {
    await server.close();
  }
});
