import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChannelClosed, GuestError, InvalidArguments, JsonRpcChannel, JsonRpcError, MemoryChannel, Timeout, type CommunicationChannel,
} from '../../src/index.ts';
import { RUNTIMES, text, utf8, withInstance } from './helpers.ts';

/** Two in-memory channel ends, each receiving what the other sends. */
function pair(): [CommunicationChannel & { raw: Uint8Array[] }, CommunicationChannel & { raw: Uint8Array[] }] {
  const make = () => {
    const queue: Uint8Array[] = [];
    const waiters: ((m: Uint8Array) => void)[] = [];
    const end = {
      raw: [] as Uint8Array[],
      closed: false,
      peer: undefined as unknown as { deliver(m: Uint8Array): void },
      deliver(m: Uint8Array) {
        const w = waiters.shift();
        if (w) w(m);
        else queue.push(m);
      },
      async send(m: Uint8Array) {
        if (end.closed) throw new ChannelClosed();
        end.raw.push(m);
        end.peer.deliver(m);
      },
      receive() {
        if (end.closed) return Promise.reject(new ChannelClosed());
        const m = queue.shift();
        return m ? Promise.resolve(m) : new Promise<Uint8Array>((r) => waiters.push(r));
      },
      close() {
        end.closed = true;
      },
    };
    return end;
  };
  const a = make(), b = make();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

describe('JsonRpcChannel over any channel', () => {
  test('calls in both directions, params by position or name, notifications', async () => {
    const [a, b] = pair();
    const left = new JsonRpcChannel(a), right = new JsonRpcChannel(b);
    right.register('add', (p) => (p as number[])[0] + (p as number[])[1]);
    right.register('greet', async (p) => `hello ${(p as { name: string }).name}`);
    left.register('whoami', () => 'left');
    const seen: unknown[] = [];
    right.register('event', (p) => { seen.push(p); });
    assert.equal(await left.call('add', [2, 3]), 5);
    assert.equal(await left.call('greet', { name: 'wasm' }), 'hello wasm');
    assert.equal(await right.call('whoami'), 'left');
    await left.notify('event', { n: 1 });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, [{ n: 1 }]);
    assert.deepEqual(JSON.parse(text(a.raw[0])), { jsonrpc: '2.0', method: 'add', params: [2, 3], id: 1 });
    assert.ok(!('id' in JSON.parse(text(a.raw.at(-1)!))), 'notifications carry no id');
    left.close();
    right.close();
  });

  test('error objects: handler codes, unknown methods, internal errors', async () => {
    const [a, b] = pair();
    const left = new JsonRpcChannel(a), right = new JsonRpcChannel(b);
    right.register('deny', () => { throw new JsonRpcError(-32001, 'denied', { reason: 'policy' }); });
    right.register('crash', () => { throw new Error('kaput'); });
    const denied = await left.call('deny').catch((e: unknown) => e);
    assert.ok(denied instanceof GuestError);
    assert.equal(denied.guestCode, -32001);
    assert.deepEqual(denied.data, { reason: 'policy' });
    assert.equal(denied.functionName, 'deny');
    assert.equal((await left.call('missing').catch((e: GuestError) => e.guestCode)), -32601);
    const crash = await left.call('crash').catch((e: GuestError) => e) as GuestError;
    assert.equal(crash.guestCode, -32603);
    assert.match(crash.message, /kaput/);
    left.close();
    right.close();
  });

  test('per-call timeouts; a late answer is dropped', async () => {
    const [a, b] = pair();
    const left = new JsonRpcChannel(a, { timeoutMs: 1000 }), right = new JsonRpcChannel(b);
    right.register('slow', () => new Promise((r) => setTimeout(() => r('late'), 80)));
    const err = await left.call('slow', [], { timeoutMs: 20 }).catch((e: unknown) => e);
    assert.ok(err instanceof Timeout);
    assert.equal(err.timeoutMs, 20);
    assert.equal(await left.call('slow', [], { timeoutMs: null }), 'late');
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(left.call('slow', [], { timeoutMs: -1 }), InvalidArguments);
    left.close();
    right.close();
  });

  test('malformed messages get spec error responses; batches get batch responses', async () => {
    const [a, b] = pair();
    const right = new JsonRpcChannel(b);
    right.register('one', () => 1);
    const replies: unknown[] = [];
    const read = async () => { for (;;) replies.push(JSON.parse(text(await a.receive()))); };
    void read();
    await a.send(utf8('{not json'));
    await a.send(utf8('{"jsonrpc":"1.0","id":5,"method":"one"}'));
    await a.send(utf8('{"jsonrpc":"2.0","id":6,"method":"one","params":3}'));
    await a.send(utf8('[]'));
    await a.send(utf8('[{"jsonrpc":"2.0","id":7,"method":"one"},{"jsonrpc":"2.0","method":"one"},{"jsonrpc":"2.0","id":8,"method":"none"}]'));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(replies, [
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error: the message is not UTF-8 JSON' } },
      { jsonrpc: '2.0', id: 5, error: { code: -32600, message: 'invalid request: not a JSON-RPC 2.0 object' } },
      { jsonrpc: '2.0', id: 6, error: { code: -32600, message: 'invalid request' } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'invalid request: an empty batch' } },
      [{ jsonrpc: '2.0', id: 7, result: 1 }, { jsonrpc: '2.0', id: 8, error: { code: -32601, message: 'method not found: none' } }],
    ]);
    right.close();
  });

  test('closing rejects pending calls; bad arguments are refused before sending', async () => {
    const [a] = pair();
    const left = new JsonRpcChannel(a);
    const pending = left.call('never');
    await assert.rejects(left.call(''), InvalidArguments);
    await assert.rejects(left.call('x', 5), InvalidArguments);
    await assert.rejects(left.notify('x', { big: 1n }), InvalidArguments);
    left.close();
    await assert.rejects(pending, ChannelClosed);
    await assert.rejects(left.call('after'), ChannelClosed);
  });
});

for (const runtime of RUNTIMES) {
  describe(`JsonRpcChannel with a guest over a MemoryChannel (${runtime})`, () => {
    test('host calls the guest, the guest calls the host, notifications both ways, errors and timeouts', async () => {
      await withInstance(runtime, 'c/rpc_guest.wasm', async (s, id) => {
        const rpc = new JsonRpcChannel(await MemoryChannel.open(s, id), { timeoutMs: 2000 });
        const events: unknown[] = [];
        rpc.register('host.double', (p) => (p as number[])[0] * 2);
        rpc.register('guest.event', (p) => { events.push(p); });
        rpc.register('pong', () => { events.push('pong'); });
        assert.equal(await rpc.call('add', [5, 3]), 8);
        assert.deepEqual(await rpc.call('echo', { nested: [1, { two: 2 }] }), { nested: [1, { two: 2 }] });
        assert.equal(await rpc.call('ask_host', [21]), 43, 'the guest called host.double(21) while serving the call');
        const err = await rpc.call('fail').catch((e: unknown) => e);
        assert.ok(err instanceof GuestError);
        assert.equal(err.guestCode, 42);
        assert.deepEqual(err.data, { why: 'testing' });
        assert.equal((await rpc.call('nope').catch((e: GuestError) => e.guestCode)), -32601);
        await assert.rejects(rpc.call('slow', [], { timeoutMs: 30 }), Timeout);
        assert.equal(await rpc.call('notify_me', [7]), 'sent');
        await rpc.notify('ping');
        await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(events, [{ n: 7 }, 'pong']);
        const many = await Promise.all(Array.from({ length: 50 }, (_, i) => rpc.call('add', [i, i])));
        assert.deepEqual(many, Array.from({ length: 50 }, (_, i) => 2 * i));
        rpc.close();
      });
    });
  });
}
