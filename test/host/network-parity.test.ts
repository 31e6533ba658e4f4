/**
 * The network rows of the parity table: the same decision, and the same violation record, through
 * a preview1 host and a preview2 component host, where both ABIs can express the scenario.
 *
 * | scenario                                   | preview1                                | preview2                         |
 * |--------------------------------------------|-----------------------------------------|----------------------------------|
 * | listen on 0.0.0.0 under 'loopback'         | embedder's listener refused at creation | guest's bind: access-denied      |
 * | listen on 127.0.0.1:0 granted literally    | listener opened                         | bind + listen succeed            |
 * | accept a peer (127.0.0.2) the grant lacks  | not handed over; violation              | not handed over; same violation  |
 * | accept a peer the grant covers             | accepted                                | accepted                         |
 * | connect, name lookup, send-to, HTTP        | cannot be expressed: preview1 creates no sockets (pre-opened listeners and accept only) | test/component/wasi-sockets.test.ts, wasi-http.test.ts |
 *
 * Peers connect from 127.0.0.2 (Linux routes all of 127.0.0.0/8 to loopback), so the listener's
 * grant and the peer's address differ while everything stays on loopback.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { SecurityViolation } from '../../src/errors.ts';
import { Capabilities, type NetworkPolicy } from '../../src/security/capabilities.ts';
import { ERRNO } from '../../src/wasi/errno.ts';
import { load, runtime } from '../component/helpers.ts';
import { RawGuest } from '../wasi/raw-guest.ts';

const NONBLOCK = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Decision = 'allowed' | 'refused';
interface Outcome {
  decision: Decision;
  /** Violation details with the peer's ephemeral port blanked. */
  violations: string[];
}

const blank = (details: { detail: string }[]): string[] => details.map((v) => v.detail.replace(/(127\.0\.0\.2):\d+/, '$1:PORT'));

function peer(port: number): net.Socket {
  const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
  s.on('error', () => {});
  return s;
}

/** Preview1: a pre-opened listener, a peer from 127.0.0.2, non-blocking accepts until it is handed over or refused. */
async function preview1Accept(network: NetworkPolicy): Promise<Outcome> {
  const g = new RawGuest({ capabilities: { network }, extra: { listeners: [{ host: '127.0.0.1', port: 0 }] } });
  try {
    const [{ port, fd }] = g.host.listenerAddresses();
    assert.equal(g.call('fd_fdstat_set_flags', fd, NONBLOCK), ERRNO.SUCCESS);
    const client = peer(port);
    const out = g.alloc(4, 4);
    let decision: Decision | undefined;
    for (let i = 0; i < 500 && decision === undefined; i++) {
      const errno = g.call('sock_accept', fd, 0, out);
      if (errno === ERRNO.SUCCESS) decision = 'allowed';
      else if (g.violations.length > 0) decision = 'refused';
      else await sleep(10);
    }
    client.destroy();
    return { decision: decision ?? 'refused', violations: blank(g.violations) };
  } finally {
    g.host.close();
  }
}

/** Preview2: bind + listen on 127.0.0.1:0, a peer from 127.0.0.2, accepts until it is handed over or refused. */
async function preview2Accept(network: NetworkPolicy): Promise<Outcome> {
  const violations: { capability: string; detail: string }[] = [];
  const rt = await runtime();
  const instance = await rt.instantiate(await load('sockets'), { capabilities: Capabilities.captured().with({ network }), onViolation: (v) => violations.push(v) });
  try {
    const imports = (instance as unknown as { live: { host: { imports: Record<string, Record<string, any>> } } }).live.host.imports;
    const netw = imports['wasi:sockets/instance-network'].instanceNetwork();
    const listener = imports['wasi:sockets/tcp-create-socket'].createTcpSocket('ipv4');
    listener.startBind(netw, { tag: 'ipv4', val: { port: 0, address: [127, 0, 0, 1] } });
    listener.finishBind();
    listener.startListen();
    listener.finishListen();
    const client = peer(listener.localAddress().val.port);
    let decision: Decision | undefined;
    for (let i = 0; i < 500 && decision === undefined; i++) {
      try {
        listener.accept();
        decision = 'allowed';
      } catch (e) {
        if (e !== 'would-block') throw e;
        if (violations.length > 0) decision = 'refused';
        else await sleep(10);
      }
    }
    client.destroy();
    return { decision: decision ?? 'refused', violations: blank(violations) };
  } finally {
    instance.close();
  }
}

describe('network parity: preview1 and preview2 decide alike', () => {
  it('accepting a peer: refused (with the same violation) unless the grant covers its address', async () => {
    const rows: [NetworkPolicy, Decision][] = [
      [{ allow: ['127.0.0.1:0'] }, 'refused'],
      [{ allow: ['127.0.0.1:0', '127.0.0.2:*'] }, 'allowed'],
      [{ allow: ['0.0.0.0:8080', '127.0.0.1:0'] }, 'allowed'],
      ['loopback', 'allowed'],
    ];
    for (const [network, expected] of rows) {
      const p1 = await preview1Accept(network);
      const p2 = await preview2Accept(network);
      assert.equal(p1.decision, expected, `preview1 ${JSON.stringify(network)}`);
      assert.deepEqual(p2, p1, `preview2 ${JSON.stringify(network)}`);
    }
    assert.deepEqual((await preview1Accept({ allow: ['127.0.0.1:0'] })).violations, ['accepting a connection from 127.0.0.2:PORT refused by the network policy']);
  });

  it('listening: the same addresses are refused and granted', async () => {
    const rows: [NetworkPolicy, [number, number, number, number], Decision][] = [
      ['loopback', [0, 0, 0, 0], 'refused'],
      [{ allow: ['127.0.0.1:8080'] }, [127, 0, 0, 1], 'refused'],
      [{ allow: ['localhost:0'] }, [127, 0, 0, 1], 'refused'],
      [{ allow: ['127.0.0.1:0'] }, [127, 0, 0, 1], 'allowed'],
      ['loopback', [127, 0, 0, 1], 'allowed'],
    ];
    const rt = await runtime();
    for (const [network, address, expected] of rows) {
      let p1: Decision = 'allowed';
      try {
        new RawGuest({ capabilities: { network }, extra: { listeners: [{ host: address.join('.'), port: 0 }] } }).host.close();
      } catch (err) {
        assert.ok(err instanceof SecurityViolation && err.capability === 'network', String(err));
        p1 = 'refused';
      }
      const instance = await rt.instantiate(await load('sockets'), { capabilities: Capabilities.captured().with({ network }) });
      const imports = (instance as unknown as { live: { host: { imports: Record<string, Record<string, any>> } } }).live.host.imports;
      const socket = imports['wasi:sockets/tcp-create-socket'].createTcpSocket('ipv4');
      let p2: Decision = 'allowed';
      try {
        socket.startBind(imports['wasi:sockets/instance-network'].instanceNetwork(), { tag: 'ipv4', val: { port: 0, address } });
        socket.finishBind();
        socket.startListen();
      } catch (e) {
        assert.equal(e, 'access-denied');
        p2 = 'refused';
      }
      instance.close();
      assert.deepEqual([p1, p2], [expected, expected], `${JSON.stringify(network)} ${address.join('.')}`);
    }
  });
});
