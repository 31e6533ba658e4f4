/**
 * WASI preview1 sockets on listeners the host pre-opened. The raw tests drive the imports from this
 * thread while this thread also plays the client: a client connects and writes (the kernel buffers
 * it) before the thread blocks in a WASI call, and reads what the guest sent once it is back on the
 * event loop. The C guest (fixtures/wasi/echo_server.c) blocks its thread while serving, so it runs
 * on the worker runtime or in a child process, with this process as the client. Loopback only.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/cli/args.ts';
import { listenGrant } from '../../src/cli/commands/run.ts';
import { InvalidArguments, ResourceLimitExceeded, SecurityViolation, Timeout } from '../../src/errors.ts';
import { WasmSandbox } from '../../src/index.ts';
import { Capabilities } from '../../src/security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../../src/security/resource-limits.ts';
import { CONNECTION_RIGHTS, EVENTRWFLAGS_HANGUP, EVENTTYPE, FILETYPE, LISTENER_RIGHTS } from '../../src/wasi/constants.ts';
import { ERRNO } from '../../src/wasi/errno.ts';
import { WasiHost } from '../../src/wasi/wasi-host.ts';
import { FIXTURES } from './helpers.ts';
import { RawGuest, type RawOptions } from './raw-guest.ts';

const LOCAL = { host: '127.0.0.1', port: 0 };
const ECHO_SERVER = join(FIXTURES, 'echo_server.wasm');
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const RAW_GUEST = fileURLToPath(new URL('./raw-guest.ts', import.meta.url));
const NONBLOCK = 4;

/** Rejects when `p` has not settled within `ms`, so a broken wait fails the test instead of hanging it. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Client {
  socket: net.Socket;
  data: string;
  ended: boolean;
  write(text: string): Promise<void>;
  /** Resolves once the FIN is sent (libuv sends it from the event loop, which a blocking WASI call holds). */
  end(): Promise<void>;
}

async function connect(port: number): Promise<Client> {
  // Half-open: the client can still write after the guest shuts its side down.
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await within(once(socket, 'connect'), 3000, `connect to ${port}`);
  const c: Client = {
    socket,
    data: '',
    ended: false,
    // Resolves once the data is with the kernel: a WASI call blocking this thread can then still get it.
    write: (text) => new Promise((resolve, reject) => socket.write(text, (err) => (err ? reject(err) : resolve()))),
    end: () => new Promise((resolve) => socket.end(resolve)),
  };
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (c.data += d));
  socket.on('end', () => (c.ended = true));
  socket.on('error', () => {});
  return c;
}

/** 'connected', or the error code connecting got. */
function tryConnect(port: number): Promise<string> {
  return within(
    new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    }),
    3000,
    'connection attempt',
  );
}

/** Closing is asynchronous where the helper does it on its own time (fd_close, a terminated thread). */
async function refusedSoon(port: number): Promise<string> {
  let code = '';
  for (let i = 0; i < 50 && code !== 'ECONNREFUSED'; i++) {
    code = await tryConnect(port);
    if (code !== 'ECONNREFUSED') await new Promise((r) => setTimeout(r, 20));
  }
  return code;
}

function rawGuest(options: RawOptions & { listeners?: { host: string; port: number }[] } = {}): RawGuest & { limits: ResourceLimitExceeded[] } {
  const limits: ResourceLimitExceeded[] = [];
  const g = new RawGuest({
    ...options,
    capabilities: { network: 'loopback', clock: 'real', ...options.capabilities },
    extra: { listeners: options.listeners ?? [LOCAL], onLimit: (e) => limits.push(e), ...options.extra },
  });
  return Object.assign(g, { limits });
}

function accept(g: RawGuest, fd: number, flags = 0): [number, number] {
  const out = g.alloc(4, 4);
  const e = g.call('sock_accept', fd, flags, out);
  return [e, e === 0 ? g.u32(out) : -1];
}

function recv(g: RawGuest, fd: number, lens: number[], flags = 0): [number, string[], number] {
  const { iovs, bufs } = g.iovecs(lens);
  const nPtr = g.alloc(4, 4);
  const flagsPtr = g.alloc(2, 2);
  const e = g.call('sock_recv', fd, iovs, lens.length, flags, nPtr, flagsPtr);
  if (e !== 0) return [e, [], 0];
  let left = g.u32(nPtr);
  const parts = bufs.map((b, i) => {
    const k = Math.min(left, lens[i]);
    left -= k;
    return g.text(b, k);
  });
  return [e, parts, g.u16(flagsPtr)];
}

function send(g: RawGuest, fd: number, parts: string[]): [number, number] {
  const iovs = g.alloc(8 * parts.length, 4);
  const dv = () => new DataView(g.memory.buffer);
  parts.forEach((p, i) => {
    const d = g.put(p);
    dv().setUint32(iovs + i * 8, d.ptr, true);
    dv().setUint32(iovs + i * 8 + 4, d.len, true);
  });
  const out = g.alloc(4, 4);
  const e = g.call('sock_send', fd, iovs, parts.length, 0, out);
  return [e, e === 0 ? g.u32(out) : -1];
}

function fdstat(g: RawGuest, fd: number): { errno: number; filetype: number; flags: number; base: bigint; inheriting: bigint } {
  const p = g.alloc(24, 8);
  const errno = g.call('fd_fdstat_get', fd, p);
  return { errno, filetype: g.u8(p), flags: g.u16(p + 2), base: g.u64(p + 8), inheriting: g.u64(p + 16) };
}

type Sub = { userdata: number; fd: number; type: number } | { userdata: number; clockMs: number };
interface PollEvent {
  userdata: number;
  error: number;
  type: number;
  nbytes: number;
  flags: number;
}

function poll(g: RawGuest, subs: Sub[]): PollEvent[] {
  const inPtr = g.alloc(48 * subs.length, 8);
  const outPtr = g.alloc(32 * subs.length, 8);
  const nPtr = g.alloc(4, 4);
  const dv = new DataView(g.memory.buffer);
  subs.forEach((s, i) => {
    const p = inPtr + i * 48;
    dv.setBigUint64(p, BigInt(s.userdata), true);
    if ('clockMs' in s) {
      dv.setUint8(p + 8, EVENTTYPE.CLOCK);
      dv.setUint32(p + 16, 1, true);
      dv.setBigUint64(p + 24, BigInt(s.clockMs) * 1_000_000n, true);
    } else {
      dv.setUint8(p + 8, s.type);
      dv.setUint32(p + 16, s.fd, true);
    }
  });
  assert.equal(g.call('poll_oneoff', inPtr, outPtr, subs.length, nPtr), ERRNO.SUCCESS);
  const out: PollEvent[] = [];
  const ev = new DataView(g.memory.buffer);
  for (let i = 0; i < g.u32(nPtr); i++) {
    const p = outPtr + i * 32;
    out.push({ userdata: Number(ev.getBigUint64(p, true)), error: ev.getUint16(p + 8, true), type: ev.getUint8(p + 10), nbytes: Number(ev.getBigUint64(p + 16, true)), flags: ev.getUint16(p + 24, true) });
  }
  return out;
}

describe('pre-opened listeners', () => {
  it('are stream-socket descriptors placed after the preopens, with only accept rights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasi-sock-'));
    const seen: unknown[] = [];
    const g = rawGuest({
      capabilities: { filesystem: [{ hostPath: dir, guestPath: '/data', mode: 'read' }] },
      listeners: [LOCAL, LOCAL],
      extra: { onListening: (l) => seen.push(l) },
    });
    try {
      const bound = g.host.listenerAddresses();
      assert.deepEqual(bound.map((l) => [l.host, l.fd]), [['127.0.0.1', 4], ['127.0.0.1', 5]]);
      assert.ok(bound.every((l) => l.port > 0) && bound[0].port !== bound[1].port);
      assert.deepEqual(seen, [bound], 'onListening got the bound addresses once');
      for (const fd of [4, 5]) {
        const st = fdstat(g, fd);
        assert.equal(st.errno, 0);
        assert.equal(st.filetype, FILETYPE.SOCKET_STREAM);
        assert.equal(st.base, BigInt(LISTENER_RIGHTS));
        assert.equal(st.inheriting, BigInt(CONNECTION_RIGHTS));
      }
      // wasi-libc stops its preopen scan at the first EBADF: the listeners come after the directories.
      assert.equal(g.call('fd_prestat_get', 3, g.alloc(8, 4)), ERRNO.SUCCESS);
      assert.equal(g.call('fd_prestat_get', 4, g.alloc(8, 4)), ERRNO.BADF);
      assert.equal(g.host.metrics().openFileDescriptors, 3 + 1 + 2);
      const fs = g.alloc(64, 8);
      assert.equal(g.call('fd_filestat_get', 4, fs), ERRNO.SUCCESS);
      assert.equal(g.u8(fs + 16), FILETYPE.SOCKET_STREAM);
      // A listener carries no data: reading and writing it are outside its rights.
      assert.equal(g.read(4, 8)[0], ERRNO.NOTCAPABLE);
      assert.equal(g.write(4, 'x')[0], ERRNO.NOTCAPABLE);
      assert.equal(await tryConnect(bound[1].port), 'connected');
    } finally {
      g.host.close();
      rmSync(dir, { recursive: true, force: true });
    }
    for (const l of g.host.listenerAddresses()) assert.equal(await tryConnect(l.port), 'ECONNREFUSED');
    assert.equal(fdstat(g, 4).errno, ERRNO.BADF);
  });

  it('closing the listener descriptor stops listening', async () => {
    const g = rawGuest();
    try {
      const port = g.host.listenerAddresses()[0].port;
      assert.equal(g.call('fd_close', 3), ERRNO.SUCCESS);
      assert.equal(await refusedSoon(port), 'ECONNREFUSED');
      assert.equal(accept(g, 3)[0], ERRNO.BADF);
    } finally {
      g.host.close();
    }
  });
});

describe('sock_accept, sock_recv, sock_send, sock_shutdown', () => {
  it('accepts, peeks, receives, sends, shuts down and sees EOF', async () => {
    const g = rawGuest();
    try {
      const port = g.host.listenerAddresses()[0].port;
      // Non-blocking listener with nobody waiting: EAGAIN at once.
      assert.equal(g.call('fd_fdstat_set_flags', 3, NONBLOCK), ERRNO.SUCCESS);
      assert.equal(accept(g, 3)[0], ERRNO.AGAIN);
      assert.equal(g.call('fd_fdstat_set_flags', 3, 0), ERRNO.SUCCESS);
      assert.equal(accept(g, 3, 1)[0], ERRNO.INVAL, 'only NONBLOCK is a valid accept flag');

      const c = await connect(port);
      await c.write('hello world\n');
      const [e, fd] = accept(g, 3);
      assert.equal(e, ERRNO.SUCCESS);
      assert.equal(fd, 4);
      assert.equal(g.host.metrics().networkConnections, 1);
      const st = fdstat(g, fd);
      assert.equal(st.filetype, FILETYPE.SOCKET_STREAM);
      assert.equal(st.base, BigInt(CONNECTION_RIGHTS));
      assert.equal(st.flags, 0);

      assert.deepEqual(recv(g, fd, [5], 1), [ERRNO.SUCCESS, ['hello'], 0], 'RECV_PEEK leaves the data queued');
      assert.deepEqual(recv(g, fd, [3, 4]), [ERRNO.SUCCESS, ['hel', 'lo w'], 0], 'scattered over two buffers');
      assert.deepEqual(g.read(fd, 100), [ERRNO.SUCCESS, 'orld\n'], 'fd_read reads the socket');
      assert.equal(g.call('fd_fdstat_set_flags', fd, NONBLOCK), ERRNO.SUCCESS);
      assert.equal(recv(g, fd, [16])[0], ERRNO.AGAIN, 'non-blocking with nothing queued');
      assert.equal(g.call('fd_fdstat_set_flags', fd, 0), ERRNO.SUCCESS);

      assert.deepEqual(send(g, fd, ['echo: ', 'hi\n']), [ERRNO.SUCCESS, 9]);
      assert.deepEqual(g.write(fd, 'more\n'), [ERRNO.SUCCESS, 5], 'fd_write writes the socket');
      assert.equal(g.call('sock_shutdown', fd, 2), ERRNO.SUCCESS);
      assert.equal(send(g, fd, ['late'])[0], ERRNO.PIPE, 'nothing can be sent after SHUT_WR');
      await within(once(c.socket, 'end'), 3000, 'EOF at the client');
      assert.equal(c.data, 'echo: hi\nmore\n');

      // The client may still send after our SHUT_WR (half-close), then closes: WAITALL stops at EOF.
      await c.write('abc');
      await c.end();
      assert.deepEqual(recv(g, fd, [10], 2), [ERRNO.SUCCESS, ['abc'], 0]);
      assert.deepEqual(recv(g, fd, [10]), [ERRNO.SUCCESS, [''], 0], 'EOF is a 0-byte read');
      assert.deepEqual(g.read(fd, 10), [ERRNO.SUCCESS, '']);

      assert.equal(g.call('fd_close', fd), ERRNO.SUCCESS);
      assert.equal(g.host.metrics().networkConnections, 0);
      assert.equal(recv(g, fd, [4])[0], ERRNO.BADF);
    } finally {
      g.host.close();
    }
  });

  it('answers misuse with the POSIX errno', async () => {
    const g = rawGuest();
    try {
      const c = await connect(g.host.listenerAddresses()[0].port);
      const [, fd] = accept(g, 3);
      assert.equal(accept(g, fd)[0], ERRNO.INVAL, 'accept on a connection');
      assert.equal(recv(g, 3, [4])[0], ERRNO.NOTCONN, 'recv on a listener');
      assert.equal(send(g, 3, ['x'])[0], ERRNO.NOTCONN, 'send on a listener');
      assert.equal(g.call('sock_shutdown', 3, 3), ERRNO.NOTCONN, 'shutdown of a listener');
      assert.equal(g.call('sock_shutdown', fd, 0), ERRNO.INVAL);
      assert.equal(g.call('sock_shutdown', fd, 4), ERRNO.INVAL);
      assert.equal(recv(g, fd, [4], 4)[0], ERRNO.INVAL, 'unknown recv flag');
      assert.equal(accept(g, 1)[0], ERRNO.NOTSOCK);
      assert.equal(recv(g, 0, [4])[0], ERRNO.NOTSOCK);
      assert.equal(g.call('sock_shutdown', 2, 3), ERRNO.NOTSOCK);
      assert.equal(accept(g, 40)[0], ERRNO.BADF);
      assert.equal(g.call('fd_seek', fd, 0n, 0, g.alloc(8, 8)), ERRNO.SPIPE);
      assert.equal(g.call('fd_pread', fd, g.iovecs([4]).iovs, 1, 0n, g.alloc(4, 4)), ERRNO.SPIPE);
      assert.equal(g.call('fd_readdir', fd, g.alloc(64, 8), 64, 0n, g.alloc(4, 4)), ERRNO.NOTDIR);
      // Dropping FD_WRITE from the connection makes sending a capability error.
      assert.equal(g.call('fd_fdstat_set_rights', fd, BigInt(CONNECTION_RIGHTS & ~(1 << 6)), 0n), ERRNO.SUCCESS);
      assert.equal(send(g, fd, ['x'])[0], ERRNO.NOTCAPABLE);
      c.socket.destroy();
    } finally {
      g.host.close();
    }
  });

  it('SHUT_RD makes later receives return EOF at once', async () => {
    const g = rawGuest();
    try {
      const c = await connect(g.host.listenerAddresses()[0].port);
      await c.write('ignored');
      const [, fd] = accept(g, 3);
      assert.equal(g.call('sock_shutdown', fd, 1), ERRNO.SUCCESS);
      assert.deepEqual(recv(g, fd, [16]), [ERRNO.SUCCESS, [''], 0]);
      assert.deepEqual(send(g, fd, ['still writable\n']), [ERRNO.SUCCESS, 15]);
      assert.equal(g.call('sock_shutdown', fd, 3), ERRNO.SUCCESS);
      await within(once(c.socket, 'end'), 3000, 'EOF at the client');
      assert.equal(c.data, 'still writable\n');
      c.socket.destroy();
    } finally {
      g.host.close();
    }
  });

  it('poll_oneoff waits for listeners and connections, bounded by a clock', async () => {
    const g = rawGuest();
    try {
      const port = g.host.listenerAddresses()[0].port;
      const t0 = performance.now();
      const timedOut = poll(g, [{ userdata: 1, fd: 3, type: EVENTTYPE.FD_READ }, { userdata: 2, clockMs: 120 }]);
      const waited = performance.now() - t0;
      assert.deepEqual(timedOut.map((e) => [e.userdata, e.type]), [[2, EVENTTYPE.CLOCK]]);
      assert.ok(waited >= 100 && waited < 2000, `waited ${waited} ms for a 120 ms timeout`);

      const c = await connect(port);
      // No clock: waits for the helper to see the connection.
      const pending = poll(g, [{ userdata: 7, fd: 3, type: EVENTTYPE.FD_READ }]);
      assert.deepEqual(pending.map((e) => [e.userdata, e.error, e.type, e.nbytes]), [[7, 0, EVENTTYPE.FD_READ, 1]]);
      const [, fd] = accept(g, 3);
      const writable = poll(g, [{ userdata: 8, fd, type: EVENTTYPE.FD_READ }, { userdata: 9, fd, type: EVENTTYPE.FD_WRITE }]);
      assert.deepEqual(writable.map((e) => e.userdata), [9], 'writable, nothing to read yet');
      await c.write('ping');
      const readable = poll(g, [{ userdata: 8, fd, type: EVENTTYPE.FD_READ }, { userdata: 10, clockMs: 5000 }]);
      assert.deepEqual(readable.map((e) => [e.userdata, e.nbytes, e.flags]), [[8, 4, 0]]);
      assert.deepEqual(recv(g, fd, [8]), [ERRNO.SUCCESS, ['ping'], 0]);
      await c.end();
      const hangup = poll(g, [{ userdata: 11, fd, type: EVENTTYPE.FD_READ }]);
      assert.deepEqual(hangup.map((e) => [e.userdata, e.flags]), [[11, EVENTRWFLAGS_HANGUP]]);
      // A socket among descriptors that are always ready is only reported when it is ready too.
      const mixed = poll(g, [{ userdata: 12, fd: 1, type: EVENTTYPE.FD_WRITE }, { userdata: 13, fd: 3, type: EVENTTYPE.FD_READ }]);
      assert.deepEqual(mixed.map((e) => e.userdata), [12]);
    } finally {
      g.host.close();
    }
  });
});

describe('limits', () => {
  it('io.maxNetworkConnections: EMFILE at the limit, reported once, freed by closing', async () => {
    const g = rawGuest({ limits: { io: { maxNetworkConnections: 1 } } });
    const clients: Client[] = [];
    try {
      const port = g.host.listenerAddresses()[0].port;
      clients.push(await connect(port), await connect(port));
      const [e1, fd1] = accept(g, 3);
      assert.equal(e1, ERRNO.SUCCESS);
      assert.equal(accept(g, 3)[0], ERRNO.MFILE);
      assert.equal(accept(g, 3, NONBLOCK)[0], ERRNO.MFILE);
      assert.equal(g.limits.length, 1, 'one report while the guest keeps hitting the limit');
      assert.ok(g.limits[0] instanceof ResourceLimitExceeded);
      assert.equal(g.limits[0].limit, 'network-connections');
      assert.equal(g.limits[0].max, 1);
      assert.equal(g.host.metrics().networkConnections, 1);
      assert.equal(g.call('fd_close', fd1), ERRNO.SUCCESS);
      assert.equal(g.host.metrics().networkConnections, 0);
      const [e2] = accept(g, 3);
      assert.equal(e2, ERRNO.SUCCESS, 'the queued connection is accepted once there is room');
      assert.equal(g.host.metrics().networkConnections, 1);
      assert.equal(accept(g, 3)[0], ERRNO.MFILE);
      assert.equal(g.limits.length, 2, 'a new episode at the limit is reported again');
      await within(once(clients[0].socket, 'end'), 3000, 'the closed connection to end');
    } finally {
      g.host.close();
      for (const c of clients) c.socket.destroy();
    }
    assert.equal(g.host.metrics().networkConnections, 0);
  });

  it('io.maxFileDescriptors also bounds accepted connections', async () => {
    const g = rawGuest({ limits: { io: { maxFileDescriptors: 4 } } });
    try {
      const c = await connect(g.host.listenerAddresses()[0].port);
      assert.equal(accept(g, 3)[0], ERRNO.MFILE);
      assert.equal(g.limits.length, 0, 'the descriptor limit is not the connection limit');
      c.socket.destroy();
    } finally {
      g.host.close();
    }
  });
});

describe('the network capability', () => {
  const host = (network: Capabilities['network'], listeners = [LOCAL]) => {
    const violations: { capability: string; detail: string }[] = [];
    const make = () =>
      new WasiHost({ capabilities: Capabilities.from({ network }), resourceLimits: ResourceLimits.from({}), listeners, onViolation: (v) => violations.push(v) });
    return { make, violations };
  };

  it('refuses listeners the grant does not cover, before anything is opened', () => {
    const cases: [Capabilities['network'], { host: string; port: number }][] = [
      ['none', LOCAL],
      ['loopback', { host: '0.0.0.0', port: 0 }],
      ['loopback', { host: '192.0.2.1', port: 8080 }],
      [{ allow: ['127.0.0.1:8080'] }, LOCAL],
      [{ allow: ['localhost:0'] }, LOCAL],
      [{ allow: ['*.example.com:0'] }, LOCAL],
    ];
    for (const [network, listener] of cases) {
      const h = host(network, [listener]);
      assert.throws(h.make, (err: unknown) => err instanceof SecurityViolation && err.capability === 'network' && err.detail.includes(`${listener.host}:${listener.port}`), JSON.stringify(network));
      assert.deepEqual(h.violations, [], 'the embedder gets the exception; a sandbox turns it into one event');
    }
  });

  it('grants loopback under loopback, matching allow entries, or unrestricted', () => {
    for (const network of ['loopback', 'unrestricted', { allow: ['127.0.0.1:*'] }, { allow: ['127.0.0.1:0'] }] as const) {
      const h = host(network);
      const w = h.make();
      try {
        assert.equal(w.listenerAddresses().length, 1, JSON.stringify(network));
      } finally {
        w.close();
      }
    }
  });

  it('binds what it checked: a listener host is an address (localhost meaning 127.0.0.1), never a name to resolve', () => {
    const w = host('loopback', [{ host: 'localhost', port: 0 }]).make();
    try {
      assert.equal(w.listenerAddresses()[0].host, '127.0.0.1');
    } finally {
      w.close();
    }
    for (const name of ['example.com', 'localhost.attacker.example', '0x7f.0.0.1']) {
      assert.throws(() => host('unrestricted', [{ host: name, port: 0 }]).make(), (err: unknown) => err instanceof InvalidArguments && err.message.includes(name), name);
    }
    // The mapped form of a granted address is that address.
    const mapped = host({ allow: ['127.0.0.1:0'] }, [{ host: '::ffff:127.0.0.1', port: 0 }]).make();
    mapped.close();
  });

  it('rejects malformed listeners and addresses that cannot be bound', async () => {
    for (const bad of [[{ host: '', port: 0 }], [{ host: '127.0.0.1', port: 70000 }], [{ host: '127.0.0.1', port: 1.5 }], 'x']) {
      assert.throws(() => host('unrestricted', bad as never).make(), InvalidArguments);
    }
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      assert.throws(() => host('loopback', [{ host: '127.0.0.1', port }]).make(), (err: unknown) => err instanceof InvalidArguments && /EADDRINUSE/.test(err.message));
    } finally {
      busy.close();
    }
  });

  it('fails instantiation through the sandbox, too', async () => {
    const sandbox = await WasmSandbox.create();
    try {
      const id = await sandbox.loadModule(readFileSync(ECHO_SERVER));
      const seen: string[] = [];
      sandbox.on('violation', (v) => seen.push(v.capability));
      await assert.rejects(sandbox.createInstance(id, { capabilities: { network: 'none' }, wasi: { listeners: [LOCAL] } }), SecurityViolation);
      assert.deepEqual(seen, ['network']);
    } finally {
      await sandbox.close();
    }
  });
});

describe('the echo server guest (C, wasi-libc accept/recv/send/shutdown/poll)', () => {
  async function start(sandbox: WasmSandbox, args: string[], limits: ResourceLimitsInit = {}) {
    const id = await sandbox.loadModule(readFileSync(ECHO_SERVER));
    let stdout = '';
    let bound: { host: string; port: number; fd: number }[] = [];
    const instance = await sandbox.createInstance(id, {
      capabilities: { network: 'loopback', args, stdio: { stdout: 'capture', stderr: 'capture' } },
      resourceLimits: limits,
      wasi: { listeners: [LOCAL], onListening: (l) => (bound = l), onStdout: (c) => (stdout += Buffer.from(c).toString()) },
    });
    return { instance, port: () => bound[0].port, stdout: () => stdout };
  }

  it('serves connections on the worker runtime: echo, shutdown, EOF, non-blocking accept', async () => {
    const sandbox = await WasmSandbox.create({ runtime: 'worker' });
    try {
      const g = await start(sandbox, ['echo', '2']);
      const run = sandbox.runCommand(g.instance);
      await until(() => g.stdout().includes('ready'), 'the guest to be ready');
      for (const word of ['first', 'second']) {
        const c = await connect(g.port());
        await c.write(`${word}\n`);
        await within(once(c.socket, 'end'), 5000, 'the reply and EOF');
        assert.equal(c.data, `echo: ${word}\n`);
        c.socket.end();
        await within(once(c.socket, 'close'), 5000, 'close');
      }
      assert.equal(await within(run, 5000, 'the guest to exit'), 0);
      assert.equal(
        g.stdout(),
        [
          'listener fd 3', 'nonblocking accept EAGAIN -1', 'ready 2',
          ...['first', 'second'].flatMap((w) => ['accepted fd 4', `peeked same ${w.length + 1}`, 'send after shutdown EPIPE 64', 'eof after 0', `served ${w} ${w.length}`]),
        ].join('\n') + '\n',
      );
      assert.equal(sandbox.getMetrics(g.instance).networkConnections, 0);
      await sandbox.destroyInstance(g.instance);
      assert.equal(await tryConnect(g.port()), 'ECONNREFUSED');
    } finally {
      await sandbox.close();
    }
  });

  it('hits the connection limit with EMFILE and a limit event, and carries on', async () => {
    const sandbox = await WasmSandbox.create({ runtime: 'worker' });
    const events: ResourceLimitExceeded[] = [];
    sandbox.on('limit', (e) => events.push(e.error as ResourceLimitExceeded));
    try {
      const g = await start(sandbox, ['limit'], { io: { maxNetworkConnections: 1 } });
      const run = sandbox.runCommand(g.instance);
      await until(() => g.stdout().includes('ready'), 'the guest to be ready');
      const a = await connect(g.port());
      await a.write('one\n');
      await until(() => g.stdout().includes('accepted first'), 'the first accept');
      const b = await connect(g.port());
      await b.write('two\n');
      for (const c of [a, b]) {
        await within(once(c.socket, 'end'), 5000, 'a reply');
        c.socket.end();
      }
      assert.equal(await within(run, 5000, 'the guest to exit'), 0);
      assert.equal(a.data, 'echo: one\n');
      assert.equal(b.data, 'echo: two\n');
      assert.match(g.stdout(), /second accept EMFILE -1\n/);
      assert.equal(events.length, 1);
      assert.equal(events[0].limit, 'network-connections');
    } finally {
      await sandbox.close();
    }
  });

  it('a guest blocked in accept is stopped by its deadline (in-process), and destroying it closes the listener', async () => {
    const sandbox = await WasmSandbox.create();
    try {
      const g = await start(sandbox, ['wait'], { time: { callTimeoutMs: 200 } });
      const t0 = performance.now();
      await assert.rejects(sandbox.runCommand(g.instance), Timeout);
      assert.ok(performance.now() - t0 < 2000);
      await sandbox.destroyInstance(g.instance);
      assert.equal(await tryConnect(g.port()), 'ECONNREFUSED');
    } finally {
      await sandbox.close();
    }
  });

  it('a guest blocked in accept on a worker is stopped by its deadline, and its helper goes with the thread', async () => {
    const sandbox = await WasmSandbox.create({ runtime: 'worker' });
    try {
      const g = await start(sandbox, ['wait'], { time: { callTimeoutMs: 1000 } });
      await assert.rejects(sandbox.runCommand(g.instance), Timeout);
      assert.equal(await refusedSoon(g.port()), 'ECONNREFUSED');
    } finally {
      await sandbox.close();
    }
  });
});

describe('wasm-sandbox run --listen', () => {
  it('pre-opens the listener, announces it, serves, and exits', async () => {
    const child = spawn(process.execPath, [CLI, 'run', '--listen', '127.0.0.1:0', ECHO_SERVER, 'echo', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = once(child, 'exit');
    try {
      await until(() => stdout.includes('ready'), 'the guest to be ready', 15_000);
      const m = /^wasm-sandbox: listening on 127\.0\.0\.1:(\d+) \(fd 3\)$/m.exec(stderr);
      assert.ok(m, stderr);
      const c = await connect(Number(m[1]));
      await c.write('via cli\n');
      await within(once(c.socket, 'end'), 5000, 'the reply');
      assert.equal(c.data, 'echo: via cli\n');
      c.socket.end();
      const [code] = await within(exited, 10_000, 'the CLI to exit');
      assert.equal(code, 0, stderr);
      assert.match(stdout, /served via cli 7\n$/);
    } finally {
      child.kill();
    }
  });

  it('refuses a bad address as a usage error', () => {
    const r = spawnSync(process.execPath, [CLI, 'run', '--listen', 'nowhere', ECHO_SERVER], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--listen nowhere: expected HOST:PORT/);
  });

  it('implies the network grant for exactly that address', () => {
    const none = Capabilities.cli();
    const a = listenGrant(['127.0.0.1:0', '[::1]:8080'], none);
    assert.deepEqual(a.listeners, [{ host: '127.0.0.1', port: 0 }, { host: '::1', port: 8080 }]);
    assert.deepEqual(a.capabilities.network, { allow: ['127.0.0.1:0', '[::1]:8080'] });
    const allowed = none.with({ network: { allow: ['example.org:443'] } });
    assert.deepEqual(listenGrant(['0.0.0.0:9000'], allowed).capabilities.network, { allow: ['example.org:443', '0.0.0.0:9000'] });
    const loopback = none.with({ network: 'loopback' });
    assert.equal(listenGrant(['127.0.0.1:9000'], loopback).capabilities, loopback);
    assert.throws(() => listenGrant(['0.0.0.0:9000'], loopback), UsageError);
    const open = none.with({ network: 'unrestricted' });
    assert.equal(listenGrant(['0.0.0.0:9000'], open).capabilities, open);
    assert.throws(() => listenGrant(['127.0.0.1:65536'], none), UsageError);
    assert.deepEqual(listenGrant(['localhost:0'], none).capabilities.network, { allow: ['127.0.0.1:0'] }, 'the address bound is the address granted');
    assert.throws(() => listenGrant(['example.com:80'], none), UsageError);
    const named = none.with({ network: { allow: ['example.org:443'], nameservers: ['127.0.0.1:53'] } });
    assert.deepEqual(listenGrant(['127.0.0.1:0'], named).capabilities.network, { allow: ['example.org:443', '127.0.0.1:0'], nameservers: ['127.0.0.1:53'] });
  });
});

describe('process lifetime', () => {
  /** Runs a script with a live listener (and an accepted connection) in a child process; returns its exit time. */
  function child(closeHost: boolean): { status: number | null; ms: number; stdout: string; stderr: string } {
    const script = `
      import net from 'node:net';
      import { RawGuest } from ${JSON.stringify(RAW_GUEST)};
      const g = new RawGuest({ capabilities: { network: 'loopback' }, extra: { listeners: [{ host: '127.0.0.1', port: 0 }] } });
      const [{ port }] = g.host.listenerAddresses();
      const s = net.connect(port, '127.0.0.1');
      await new Promise((r) => s.on('connect', r));
      s.unref();
      const out = g.alloc(4, 4);
      console.log('accept', g.call('sock_accept', 3, 0, out), g.host.metrics().networkConnections);
      ${closeHost ? 'g.host.close();' : ''}
      console.log('end of script');
    `;
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, ms: performance.now() - t0, stdout: r.stdout, stderr: r.stderr };
  }

  it('exits on its own after close(), and even when the host is never closed', () => {
    for (const closeHost of [true, false]) {
      const r = child(closeHost);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'accept 0 1\nend of script\n');
      assert.ok(r.ms < 10_000, `exited after ${r.ms} ms`);
    }
  });
});
