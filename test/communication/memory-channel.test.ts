import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AbiViolation, ChannelClosed, InvalidArguments, MemoryChannel, ResourceLimitExceeded } from '../../src/index.ts';
import { RUNTIMES, text, utf8, withInstance } from './helpers.ts';

for (const runtime of RUNTIMES) {
  for (const guest of ['c/channel_echo.wasm', 'as/channel_echo.wasm']) {
    describe(`MemoryChannel: ${guest} (${runtime})`, () => {
      test('messages go both ways, in order, whole', async () => {
        await withInstance(runtime, guest, async (s, id) => {
          const channel = await MemoryChannel.open(s, id);
          assert.equal(channel.maxMessageBytes, 252);
          await channel.send(utf8('hello'));
          assert.equal(text(await channel.receive()), 'echo:hello');
          await channel.send(new Uint8Array(0));
          assert.equal(text(await channel.receive()), 'echo:');
          const sent = Array.from({ length: 40 }, (_, i) => `message ${i} `.repeat(1 + (i % 9)));
          const sending = Promise.all(sent.map((m) => channel.send(utf8(m))));
          const received: string[] = [];
          for (let i = 0; i < sent.length; i++) received.push(text(await channel.receive()));
          await sending;
          assert.deepEqual(received, sent.map((m) => `echo:${m}`), 'wrap-around keeps every message intact');
          channel.close();
        });
      });

      test('backpressure: while nobody receives, the rings fill and sends wait', async () => {
        await withInstance(runtime, guest, async (s, id) => {
          const channel = await MemoryChannel.open(s, id);
          const message = utf8('x'.repeat(100));
          let accepted = 0;
          const sends = Array.from({ length: 10 }, () => channel.send(message).then(() => { accepted++; }));
          await new Promise((r) => setTimeout(r, 50));
          // Each ring holds two 104-byte frames and the guest holds one message in hand: 5 accepted.
          assert.equal(accepted, 5);
          assert.equal(await s.callFunction(id, 'backlog', []), 1, 'the guest stopped reading with a reply in hand');
          for (let i = 0; i < 10; i++) assert.equal((await channel.receive()).length, 105);
          await Promise.all(sends);
          assert.equal(accepted, 10);
          channel.close();
        });
      });

      test('oversized messages, wrong types and closing', async () => {
        await withInstance(runtime, guest, async (s, id) => {
          const channel = await MemoryChannel.open(s, id);
          const err = await channel.send(new Uint8Array(253)).catch((e: unknown) => e);
          assert.ok(err instanceof ResourceLimitExceeded);
          assert.equal(err.limit, 'payload-bytes');
          await assert.rejects(channel.send('text' as unknown as Uint8Array), InvalidArguments);
          const waiting = channel.receive();
          channel.close();
          await assert.rejects(waiting, ChannelClosed);
          await assert.rejects(channel.send(utf8('late')), ChannelClosed);
          assert.equal(channel.closed, true);
        });
      });
    });
  }

  describe(`MemoryChannel: a lying guest (${runtime})`, () => {
    for (const [mode, pattern] of [
      [1, /lies outside its memory/],
      [2, /does not start with the channel magic/],
      [3, /ring capacity 100 is not a power of two/],
      [4, /outbox indices \(head 0, tail 1000\) claim more than its 64 bytes/],
    ] as const) {
      test(`control block mode ${mode} is refused at open`, async () => {
        await withInstance(runtime, 'wat/bad_channel.wasm', async (s, id) => {
          await s.callFunction(id, 'set_mode', [mode]);
          const err = await MemoryChannel.open(s, id).catch((e: unknown) => e);
          assert.ok(err instanceof AbiViolation, String(err));
          assert.match(err.message, pattern);
        });
      });
    }

    test('a frame longer than the outbox holds closes the channel with an AbiViolation', async () => {
      await withInstance(runtime, 'wat/bad_channel.wasm', async (s, id) => {
        await s.callFunction(id, 'set_mode', [5]);
        const channel = await MemoryChannel.open(s, id);
        const err = await channel.receive().catch((e: unknown) => e);
        assert.ok(err instanceof AbiViolation, String(err));
        assert.match(err.message, /claims 50 bytes, but the outbox holds 4/);
        assert.equal(channel.closed, true);
      });
    });
  });
}
