import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Capabilities, type Violation } from '../../src/index.ts';
import type { NetworkPolicy } from '../../src/security/capabilities.ts';
import { dnsServer } from '../helpers/dns-server.ts';
import { load, peerThread, runtime } from './helpers.ts';

/** The wasi:sockets error-code enum, in WIT order: the fixture answers -(1 + index). */
const CODES = [
  'unknown', 'access-denied', 'not-supported', 'invalid-argument', 'out-of-memory', 'timeout', 'concurrency-conflict',
  'not-in-progress', 'would-block', 'invalid-state', 'new-socket-limit', 'address-not-bindable', 'address-in-use',
  'remote-unreachable', 'connection-refused', 'connection-reset', 'connection-aborted', 'datagram-too-large',
  'name-unresolvable', 'temporary-resolver-failure', 'permanent-resolver-failure',
];
const codeOf = (n: number): string => (n >= 0 ? 'ok' : n <= -100 ? `stream error ${n}` : CODES[-n - 1]);

/**
 * A TCP server on another thread (the guest's blocking calls hold this one): it answers "echo:" and
 * what it received once the peer stops sending, and reports how many connections it has seen.
 */
async function echoServer(): Promise<{ port: number; close(): Promise<number> }> {
  return peerThread(`
    const server = require('node:net').createServer({ allowHalfOpen: true }, (s) => {
      const chunks = [];
      s.on('data', (c) => chunks.push(c));
      s.on('end', () => s.end('echo:' + Buffer.concat(chunks)));
      s.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
    parentPort.on('message', () => { server.close(); process.exit(0); });
  `);
}

async function client(network: NetworkPolicy, violations: Violation[] = [], maxNetworkConnections: number | null = 16) {
  const rt = await runtime();
  return rt.instantiate(await load('sockets'), {
    capabilities: Capabilities.captured().with({ network }),
    resourceLimits: { io: { maxNetworkConnections }, time: { callTimeoutMs: 10_000 } },
    onViolation: (v) => violations.push(v),
  });
}

const LOCALHOST = [127, 0, 0, 1];

test('an allowed TCP connection carries data both ways (connect, write, shutdown, read to EOF)', async () => {
  const server = await echoServer();
  try {
    for (const network of ['loopback', 'unrestricted', { allow: [`127.0.0.1:${server.port}`] }] as NetworkPolicy[]) {
      const instance = await client(network);
      const slot = (await instance.call('connect', [...LOCALHOST, server.port])) as number;
      assert.equal(codeOf(slot), 'ok', JSON.stringify(network));
      const n = (await instance.call('exchange', [slot])) as number;
      assert.equal(await instance.call('received', []), 'echo:hello over wasi:sockets');
      assert.equal(n, 'echo:hello over wasi:sockets'.length);
      await instance.call('close', [slot]);
      instance.close();
    }
  } finally {
    await server.close();
  }
});

test('a denied address is the WIT error access-denied and a violation, not a trap', async () => {
  const server = await echoServer();
  try {
    for (const network of ['none', { allow: [`127.0.0.1:${server.port + 1}`, 'localhost:*'] }] as NetworkPolicy[]) {
      const violations: Violation[] = [];
      const instance = await client(network, violations);
      assert.equal(codeOf((await instance.call('connect', [...LOCALHOST, server.port])) as number), 'access-denied');
      assert.ok(violations.some((v) => v.capability === 'network' && v.detail.includes(`127.0.0.1:${server.port}`)));
      assert.equal(instance.usable, true);
      instance.close();
    }
    const loopbackOnly = await client('loopback');
    assert.equal(codeOf((await loopbackOnly.call('connect', [192, 0, 2, 1, 80])) as number), 'access-denied');
    loopbackOnly.close();
  } finally {
    await server.close();
  }
});

test('a refused connection is connection-refused', async () => {
  const server = await echoServer();
  const port = server.port;
  await server.close();
  const instance = await client('loopback');
  assert.equal(codeOf((await instance.call('connect', [...LOCALHOST, port])) as number), 'connection-refused');
  instance.close();
});

test('io.maxNetworkConnections caps open sockets (new-socket-limit); closing one frees a place', async () => {
  const server = await echoServer();
  try {
    const instance = await client('loopback', [], 2);
    const a = (await instance.call('connect', [...LOCALHOST, server.port])) as number;
    const b = (await instance.call('connect', [...LOCALHOST, server.port])) as number;
    assert.deepEqual([codeOf(a), codeOf(b)], ['ok', 'ok']);
    assert.equal(codeOf((await instance.call('connect', [...LOCALHOST, server.port])) as number), 'new-socket-limit');
    await instance.call('close', [a]);
    const c = (await instance.call('connect', [...LOCALHOST, server.port])) as number;
    assert.equal(codeOf(c), 'ok');
    assert.equal(await instance.call('exchange', [c]), 'echo:hello over wasi:sockets'.length);
    instance.close();
  } finally {
    await server.close();
  }
});

test('looking up localhost works only when the policy allows the name', async () => {
  const allowed = await client('loopback');
  assert.ok(((await allowed.call('lookup', ['localhost'])) as number) > 0);
  allowed.close();
  const named = await client({ allow: ['localhost:*'] });
  assert.ok(((await named.call('lookup', ['localhost'])) as number) > 0);
  named.close();
  for (const network of ['none', { allow: ['example.com:443'] }] as NetworkPolicy[]) {
    const violations: Violation[] = [];
    const denied = await client(network, violations);
    assert.equal(codeOf((await denied.call('lookup', ['localhost'])) as number), 'access-denied');
    assert.ok(violations.some((v) => /localhost/.test(v.detail)));
    denied.close();
  }
});

test('a loopback listener accepts connections; binding outside the policy is access-denied', async () => {
  const instance = await client('loopback');
  const imports = (instance as unknown as { live: { host: { imports: Record<string, Record<string, any>> } } }).live.host.imports;
  const net = imports['wasi:sockets/instance-network'].instanceNetwork();
  const create = imports['wasi:sockets/tcp-create-socket'].createTcpSocket;
  const any = create('ipv4');
  assert.throws(() => any.startBind(net, { tag: 'ipv4', val: { port: 0, address: [0, 0, 0, 0] } }), (e: unknown) => e === 'access-denied');
  const listener = create('ipv4');
  listener.startBind(net, { tag: 'ipv4', val: { port: 0, address: [127, 0, 0, 1] } });
  listener.finishBind();
  listener.startListen();
  listener.finishListen();
  const port = listener.localAddress().val.port as number;
  assert.ok(port > 0);
  assert.throws(() => listener.accept(), (e: unknown) => e === 'would-block');
  const peer = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const s = require('node:net').connect({ host: '127.0.0.1', port: workerData, allowHalfOpen: true }, () => s.end('ping'));
    const chunks = [];
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => parentPort.postMessage(String(Buffer.concat(chunks))));
  `, { eval: true, workerData: port });
  const answer = new Promise<string>((resolve) => peer.once('message', resolve));
  let accepted: any[] | undefined;
  for (let i = 0; i < 500 && accepted === undefined; i++) {
    try {
      accepted = listener.accept();
    } catch (e) {
      if (e !== 'would-block') throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  assert.ok(accepted, 'the peer connected');
  const [conn, , output] = accepted;
  assert.equal(conn.remoteAddress().val.address.join('.'), '127.0.0.1');
  output.blockingWriteAndFlush(new TextEncoder().encode('pong'));
  conn.shutdown('send');
  assert.equal(await answer, 'pong');
  await peer.terminate();
  instance.close();
});

type Imports = Record<string, Record<string, any>>;
const importsOf = (instance: unknown): Imports => (instance as { live: { host: { imports: Imports } } }).live.host.imports;
const V4 = (address: number[], port: number) => ({ tag: 'ipv4', val: { port, address } });

/** A UDP peer on another thread: answers each datagram with "echo:" and the datagram, to its sender. */
async function udpEcho(): Promise<{ port: number; close(): Promise<number> }> {
  return peerThread(`
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
    s.bind(0, '127.0.0.1', () => parentPort.postMessage(s.address().port));
    parentPort.on('message', () => s.close(() => process.exit(0)));
  `);
}

/** Receives until something arrives (the peer answers from its own thread), for at most ~5 s. */
async function receiveSome(incoming: any): Promise<any[]> {
  for (let i = 0; i < 500; i++) {
    const got = incoming.receive(8n);
    if (got.length > 0) return got;
    await new Promise((r) => setTimeout(r, 10));
  }
  return [];
}

function boundUdp(imports: Imports, port = 0): any {
  const net = imports['wasi:sockets/instance-network'].instanceNetwork();
  const s = imports['wasi:sockets/udp-create-socket'].createUdpSocket('ipv4');
  s.startBind(net, V4(LOCALHOST, port));
  s.finishBind();
  return s;
}

test('UDP datagrams make a round trip to an allowed loopback peer', async () => {
  const peer = await udpEcho();
  try {
    for (const network of ['loopback', 'unrestricted', { allow: ['127.0.0.1:0', `127.0.0.1:${peer.port}`] }] as NetworkPolicy[]) {
      const instance = await client(network);
      const s = boundUdp(importsOf(instance));
      const local = s.localAddress();
      assert.deepEqual(local.val.address, LOCALHOST);
      assert.ok(local.val.port > 0);
      assert.throws(() => s.remoteAddress(), (e: unknown) => e === 'invalid-state');
      const [incoming, outgoing] = s.stream(undefined);
      assert.deepEqual(incoming.receive(8n), [], 'receive does not block');
      assert.equal(incoming.subscribe().ready(), false);
      assert.ok(outgoing.checkSend() > 0n);
      const sent = outgoing.send([{ data: new TextEncoder().encode('ping'), remoteAddress: V4(LOCALHOST, peer.port) }]);
      assert.equal(sent, 1n, JSON.stringify(network));
      const got = await receiveSome(incoming);
      assert.equal(got.length, 1);
      assert.equal(new TextDecoder().decode(got[0].data), 'echo:ping');
      assert.deepEqual(got[0].remoteAddress, V4(LOCALHOST, peer.port));
      instance.close();
    }
    // A connected stream: sends default to the peer, and only its datagrams arrive.
    const instance = await client('loopback');
    const s = boundUdp(importsOf(instance));
    const [incoming, outgoing] = s.stream(V4(LOCALHOST, peer.port));
    assert.deepEqual(s.remoteAddress(), V4(LOCALHOST, peer.port));
    assert.equal(outgoing.send([{ data: new TextEncoder().encode('pong'), remoteAddress: undefined }]), 1n);
    await new Promise((r) => setTimeout(r, 0));
    const ready = incoming.subscribe();
    for (let i = 0; i < 500 && !ready.ready(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(ready.ready(), true, 'the pollable reports the queued datagram');
    assert.equal(new TextDecoder().decode(incoming.receive(8n)[0].data), 'echo:pong');
    assert.throws(() => outgoing.send([{ data: new Uint8Array(1), remoteAddress: V4(LOCALHOST, peer.port + 1) }]), (e: unknown) => e === 'invalid-argument');
    instance.close();
  } finally {
    await peer.close();
  }
});

test('a UDP destination outside the policy is access-denied and a violation, not a trap', async () => {
  const peer = await udpEcho();
  try {
    const violations: Violation[] = [];
    const instance = await client({ allow: ['127.0.0.1:0', `127.0.0.1:${peer.port}`] }, violations);
    const imports = importsOf(instance);
    const net = imports['wasi:sockets/instance-network'].instanceNetwork();
    const any = imports['wasi:sockets/udp-create-socket'].createUdpSocket('ipv4');
    assert.throws(() => any.startBind(net, V4([0, 0, 0, 0], 0)), (e: unknown) => e === 'access-denied');
    const s = boundUdp(imports);
    const [, outgoing] = s.stream(undefined);
    const denied = { data: new TextEncoder().encode('x'), remoteAddress: V4(LOCALHOST, peer.port + 1) };
    assert.throws(() => outgoing.send([denied]), (e: unknown) => e === 'access-denied');
    assert.ok(violations.some((v) => v.capability === 'network' && v.detail.includes(`127.0.0.1:${peer.port + 1}`)));
    // The allowed datagram before the refused one still goes out; the refusal ends the batch.
    const allowed = { data: new TextEncoder().encode('y'), remoteAddress: V4(LOCALHOST, peer.port) };
    assert.equal(outgoing.send([allowed, denied, allowed]), 1n);
    assert.throws(() => s.stream(V4([192, 0, 2, 1], 9)), (e: unknown) => e === 'access-denied');
    assert.equal(instance.usable, true);
    instance.close();
  } finally {
    await peer.close();
  }
});

test('UDP sockets count against io.maxNetworkConnections (new-socket-limit)', async () => {
  const instance = await client('loopback', [], 2);
  const imports = importsOf(instance);
  const a = boundUdp(imports);
  boundUdp(imports);
  assert.throws(() => boundUdp(imports), (e: unknown) => e === 'new-socket-limit');
  a[Symbol.dispose]();
  const c = boundUdp(imports);
  assert.ok(c.localAddress().val.port > 0);
  instance.close();
});

test("a granted name's DNS answers 127.0.0.1, 10.0.0.1 and fc00::1 are refused unless granted literally", async () => {
  const dns = await dnsServer({ 'inside.test': ['127.0.0.1', '10.0.0.1', 'fc00::1'] });
  const server = await echoServer();
  try {
    for (const literal of [false, true]) {
      const violations: Violation[] = [];
      const allow = [`inside.test:${server.port}`, ...(literal ? [`127.0.0.1:${server.port}`] : [])];
      const instance = await client({ allow, nameservers: [dns.address] }, violations);
      const imports = importsOf(instance);
      const net = imports['wasi:sockets/instance-network'].instanceNetwork();
      const lookup = imports['wasi:sockets/ip-name-lookup'].resolveAddresses(net, 'inside.test');
      const answers: string[] = [];
      for (let i = 0; i < 500; i++) {
        let next: { tag: string; val: number[] } | undefined;
        try {
          next = lookup.resolveNextAddress();
        } catch (e) {
          if (e !== 'would-block') throw e;
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        if (next === undefined) break;
        answers.push(next.tag === 'ipv4' ? next.val.join('.') : next.val.map((g) => g.toString(16)).join(':'));
      }
      assert.deepEqual(answers, ['127.0.0.1', '10.0.0.1', 'fc00:0:0:0:0:0:0:1'], 'the guest learns every answer');
      const create = imports['wasi:sockets/tcp-create-socket'].createTcpSocket;
      // Nothing is sent to the private and unique-local answers: refused before any connection.
      assert.throws(() => create('ipv4').startConnect(net, V4([10, 0, 0, 1], server.port)), (e: unknown) => e === 'access-denied');
      const v6 = { tag: 'ipv6', val: { port: server.port, address: [0xfc00, 0, 0, 0, 0, 0, 0, 1], flowInfo: 0, scopeId: 0 } };
      assert.throws(() => create('ipv6').startConnect(net, v6), (e: unknown) => e === 'access-denied');
      const socket = create('ipv4');
      if (!literal) {
        assert.throws(() => socket.startConnect(net, V4(LOCALHOST, server.port)), (e: unknown) => e === 'access-denied');
        assert.ok(violations.some((v) => v.detail.includes(`127.0.0.1:${server.port}`) && v.detail.includes("resolved from 'inside.test'")), JSON.stringify(violations));
      } else {
        socket.startConnect(net, V4(LOCALHOST, server.port));
        socket.subscribe().block();
        assert.equal(socket.finishConnect().length, 2, 'granted literally: connected');
      }
      socket[Symbol.dispose]();
      instance.close();
    }
    assert.ok((await dns.questions()).includes('inside.test A'), 'the answers came from the grant\'s nameserver');
  } finally {
    await server.close();
    await dns.close();
  }
});
