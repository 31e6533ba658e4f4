import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Capabilities, type Violation } from '../../src/index.ts';
import { dnsServer } from '../helpers/dns-server.ts';
import { peerWorker } from '../helpers/peer-worker.ts';
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

/**
 * Two HTTP servers on 127.0.0.1 (on another thread: the guest's requests block this one) that
 * record every connection and request line. `a` answers 200 with the path, or redirects on
 * `/redirect` to `b`; `b` should never be reached unless granted.
 */
async function recorders(): Promise<{ a: number; b: number; seen(): Promise<{ a: string[]; b: string[]; connections: { a: number; b: number } }>; close(): Promise<void> }> {
  const peer = await peerWorker<{ a: number; b: number }>(`
    const http = require('node:http');
    const seen = { a: [], b: [] };
    const connections = { a: 0, b: 0 };
    const make = (name) => {
      const server = http.createServer((req, res) => {
        seen[name].push(req.method + ' ' + req.url + ' host=' + req.headers.host);
        if (req.url === '/redirect') {
          res.writeHead(302, { location: 'http://127.0.0.1:' + servers.b.address().port + '/stolen' });
          return res.end();
        }
        res.end(name + ' says ' + req.url);
      });
      server.on('connection', () => connections[name]++);
      return server;
    };
    const servers = { a: make('a'), b: make('b') };
    let listening = 0;
    for (const s of Object.values(servers)) s.listen(0, '127.0.0.1', () => {
      if (++listening === 2) parentPort.postMessage({ a: servers.a.address().port, b: servers.b.address().port });
    });
    parentPort.on('message', (m) => {
      if (m !== 'stop') return parentPort.postMessage({ ...seen, connections });
      for (const s of Object.values(servers)) s.close();
      process.exit(0);
    });
  `);
  return { ...peer.ready, seen: () => peer.ask('seen'), close: () => peer.close() };
}

type Imports = Record<string, Record<string, any>>;

/** The host's wasi:http imports of an instance, driven the way a guest's calls would. */
async function httpImports(capabilities: Capabilities, maxNetworkConnections: number | null = 16, violations: Violation[] = []) {
  const rt = await runtime();
  const instance = await rt.instantiate(await load('http-proxy'), {
    capabilities, resourceLimits: { io: { maxNetworkConnections }, time: { callTimeoutMs: 10_000 } }, onViolation: (v) => violations.push(v),
  });
  const imports = (instance as unknown as { live: { host: { imports: Imports } } }).live.host.imports;
  const { Fields, OutgoingRequest } = imports['wasi:http/types'];
  const handle = imports['wasi:http/outgoing-handler'].handle;
  /** A request, or the name of the setter that refused a part. */
  const request = (authority: string, path: string | undefined, scheme: 'HTTP' | 'HTTPS' = 'HTTP'): any => {
    const r = new OutgoingRequest(new Fields());
    r.setScheme({ tag: scheme });
    try {
      r.setAuthority(authority);
    } catch {
      return 'set-authority';
    }
    try {
      r.setPathWithQuery(path);
    } catch {
      return 'set-path-with-query';
    }
    return r;
  };
  /** Sends a request and reads its whole response: `status body`, or the error-code tag. */
  const fetch = (r: any): string => {
    let future: any;
    try {
      future = handle(r, undefined);
    } catch (e) {
      return (e as { tag: string }).tag;
    }
    future.subscribe().block();
    const outcome = future.get();
    future[Symbol.dispose]();
    if (outcome.val.tag === 'err') return outcome.val.val.tag;
    const response = outcome.val.val;
    const body = response.consume();
    const stream = body.stream();
    const chunks: Uint8Array[] = [];
    for (;;) {
      try {
        chunks.push(stream.blockingRead(65536n));
      } catch {
        break;
      }
    }
    stream[Symbol.dispose]();
    return `${response.status()} ${text(Buffer.concat(chunks))}`;
  };
  return { instance, request, fetch, handle };
}

test('outgoing HTTP: path, authority, port and userinfo injections reach nothing that is not granted', async () => {
  const servers = await recorders();
  const { a, b } = servers;
  try {
    const violations: Violation[] = [];
    const strict = await httpImports(Capabilities.captured().with({ network: { allow: [`127.0.0.1:${a}`] } }), 16, violations);
    const refused: [string, string | undefined, string][] = [
      [`127.0.0.1:${a}`, `:${b}/x`, 'set-path-with-query'],
      [`127.0.0.1:${a}`, `@127.0.0.1:${b}/`, 'set-path-with-query'],
      [`127.0.0.1:${a}`, `\\\\127.0.0.1:${b}/`, 'set-path-with-query'],
      [`127.0.0.1:${a}`, '/x#fragment', 'set-path-with-query'],
      [`127.0.0.1:${a}`, '/a b', 'set-path-with-query'],
      [`127.0.0.1:${a}`, '', 'set-path-with-query'],
      [`user@127.0.0.1:${b}`, '/', 'set-authority'],
      [`127.0.0.1:${a}@127.0.0.1:${b}`, '/', 'set-authority'],
      [`127.0.0.1:${b}\\.example.com`, '/', 'set-authority'],
      [`127.0.0.1:${a}/`, '/', 'set-authority'],
      [`0x7f.0.0.1:${a}`, '/', 'set-authority'],
      [`2130706433:${a}`, '/', 'set-authority'],
      [`127.0.0.1:0`, '/', 'set-authority'],
      [`127.0.0.1:${b}`, '/', 'HTTP-request-denied'],
      [`[::ffff:127.0.0.1]:${b}`, '/', 'HTTP-request-denied'],
      [`localhost:${a}`, '/', 'HTTP-request-denied'],
    ];
    for (const [authority, path, expected] of refused) {
      const r = strict.request(authority, path);
      assert.equal(typeof r === 'string' ? r : strict.fetch(r), expected, `${authority} ${path}`);
    }
    // A path may contain @ and : (RFC 3986 pchar): it stays a path on the granted server.
    assert.equal(strict.fetch(strict.request(`127.0.0.1:${a}`, `/@127.0.0.1:${b}/?q=1`)), `200 a says /@127.0.0.1:${b}/?q=1`);
    assert.equal(strict.fetch(strict.request(`127.0.0.1:${a}`, '//double')), '200 a says //double');

    const wildcard = await httpImports(Capabilities.captured().with({ network: { allow: ['*.example.com:80'] } }));
    assert.equal(wildcard.request(`127.0.0.1:${b}\\.example.com`, '/'), 'set-authority');

    const loopback = await httpImports(Capabilities.captured().with({ network: 'loopback' }));
    assert.equal(loopback.request('localhost', '.attacker.example/x'), 'set-path-with-query');
    assert.equal(loopback.fetch(loopback.request('localhost.attacker.example', '/x')), 'HTTP-request-denied');
    assert.equal(loopback.fetch(loopback.request(`localhost:${a}`, '/loop')), '200 a says /loop');

    const seen = await servers.seen();
    assert.deepEqual(seen.b, [], 'the server that was never granted saw nothing');
    assert.equal(seen.connections.b, 0);
    assert.deepEqual(seen.a, [
      `GET /@127.0.0.1:${b}/?q=1 host=127.0.0.1:${a}`, `GET //double host=127.0.0.1:${a}`, `GET /loop host=localhost:${a}`,
    ]);
    assert.equal(seen.connections.a, 3, 'one connection per allowed request');
    assert.ok(violations.some((v) => v.capability === 'network' && v.detail.includes(`127.0.0.1:${b}`)));
    assert.ok(violations.some((v) => v.capability === 'network' && v.detail.includes("'localhost'")));
  } finally {
    await servers.close();
  }
});

test('outgoing HTTP N+1 times under maxNetworkConnections: N succeeds when each response is consumed', async () => {
  const servers = await recorders();
  try {
    const n = 3;
    const { fetch, request, handle } = await httpImports(Capabilities.captured().with({ network: { allow: [`127.0.0.1:${servers.a}`] } }), n);
    for (let i = 0; i <= n; i++) assert.equal(fetch(request(`127.0.0.1:${servers.a}`, `/n${i}`)), `200 a says /n${i}`, `request ${i + 1}`);
    // The limit still holds for requests in flight; dropping one unsent gives its place back.
    const pending = Array.from({ length: n }, (_, i) => handle(request(`127.0.0.1:${servers.a}`, `/p${i}`), undefined));
    assert.throws(() => handle(request(`127.0.0.1:${servers.a}`, '/over'), undefined), (e: unknown) => (e as { tag: string }).tag === 'connection-limit-reached');
    pending[0][Symbol.dispose]();
    assert.equal(fetch(request(`127.0.0.1:${servers.a}`, '/after')), '200 a says /after');
    const seen = await servers.seen();
    assert.equal(seen.a.length, n + 2, 'the dropped and the refused requests were never sent');
  } finally {
    await servers.close();
  }
});

test('outgoing HTTP does not follow a redirect to a host that is not granted', async () => {
  const servers = await recorders();
  try {
    const { fetch, request } = await httpImports(Capabilities.captured().with({ network: { allow: [`127.0.0.1:${servers.a}`] } }));
    assert.equal(fetch(request(`127.0.0.1:${servers.a}`, '/redirect')), '302 ', 'the guest sees the 3xx itself');
    assert.equal(fetch(request(`127.0.0.1:${servers.b}`, '/stolen')), 'HTTP-request-denied', 'following it is a new request, checked again');
    const seen = await servers.seen();
    assert.deepEqual(seen.b, []);
    assert.equal(seen.connections.b, 0);
  } finally {
    await servers.close();
  }
});

test("outgoing HTTP to a granted name whose DNS answers are 127.0.0.1 and 10.0.0.1 reaches them only when granted literally", async () => {
  const dns = await dnsServer({ 'inside.test': ['10.0.0.1', '127.0.0.1'] });
  const servers = await recorders();
  try {
    const violations: Violation[] = [];
    const named = await httpImports(Capabilities.captured().with({ network: { allow: [`inside.test:${servers.a}`], nameservers: [dns.address] } }), 16, violations);
    assert.equal(named.fetch(named.request(`inside.test:${servers.a}`, '/named')), 'HTTP-request-denied');
    assert.ok(violations.some((v) => /HTTP to 10\.0\.0\.1:\d+ \(resolved from 'inside\.test'; a private address is granted only literally\)/.test(v.detail)), JSON.stringify(violations));
    assert.deepEqual((await servers.seen()).a, [], 'nothing reached the loopback answer');
    const literal = await httpImports(Capabilities.captured().with({ network: { allow: [`inside.test:${servers.a}`, `127.0.0.1:${servers.a}`], nameservers: [dns.address] } }));
    // 10.0.0.1 is skipped (not granted); the granted loopback answer is the one connected to, with the name as Host.
    assert.equal(literal.fetch(literal.request(`inside.test:${servers.a}`, '/literal')), `200 a says /literal`);
    assert.deepEqual((await servers.seen()).a, [`GET /literal host=inside.test:${servers.a}`]);
    const unknown = await httpImports(Capabilities.captured().with({ network: { allow: [`*.test:${servers.a}`], nameservers: [dns.address] } }));
    assert.equal(unknown.fetch(unknown.request(`nowhere.test:${servers.a}`, '/')), 'DNS-error');
    const questions = await dns.questions();
    assert.ok(questions.includes('inside.test A') && questions.includes('nowhere.test A'), JSON.stringify(questions));
  } finally {
    await servers.close();
    await dns.close();
  }
});
