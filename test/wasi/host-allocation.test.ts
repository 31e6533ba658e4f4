/**
 * Calls whose arguments decide how much the host allocates or how long it works: iovec counts,
 * subscription counts, buffer lengths. Each is bounded by guest memory and by a fixed maximum before
 * anything is allocated, and long work is checked against the deadline as it goes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERRNO } from '../../src/wasi/errno.ts';
import { IOV_MAX } from '../../src/wasi/guest-memory.ts';
import { MAX_SUBSCRIPTIONS } from '../../src/wasi/poll.ts';
import { HOST_WORK_CHUNK } from '../../src/runtime/limits/host-work.ts';
import { RawGuest } from './raw-guest.ts';

describe('iovec counts', () => {
  it('a count whose byte size wraps 32 bits is refused, not read as 8 bytes', () => {
    const g = new RawGuest({ pages: 1 });
    const out = g.alloc(4, 4);
    // 0x20000001 × 8 = 2^32 + 8: before, the bounds check saw 8 and the host built 2^29 records.
    for (const fn of ['fd_write', 'fd_read']) assert.equal(g.call(fn, fn === 'fd_write' ? 1 : 0, 0, 0x2000_0001, out), ERRNO.INVAL, fn);
  });

  it('more than IOV_MAX records is EINVAL even when they fit in memory; IOV_MAX itself works', () => {
    const g = new RawGuest({ pages: 16 });
    const { iovs } = g.iovecs(new Array(IOV_MAX + 1).fill(0));
    const out = g.alloc(4, 4);
    assert.equal(g.call('fd_write', 1, iovs, IOV_MAX + 1, out), ERRNO.INVAL);
    assert.equal(g.call('fd_write', 1, iovs, IOV_MAX, out), ERRNO.SUCCESS);
    assert.equal(g.u32(out), 0);
  });

  it('records that all point at the whole memory are written one by one, each checked', () => {
    let checks = 0;
    const g = new RawGuest({ pages: 64, capabilities: { stdio: { stdout: 'null' } }, extra: { checkInterrupt: () => void checks++ } });
    const iovs = g.alloc(8 * IOV_MAX, 4);
    const dv = new DataView(g.memory.buffer);
    for (let i = 0; i < IOV_MAX; i++) {
      dv.setUint32(iovs + i * 8, 0, true);
      dv.setUint32(iovs + i * 8 + 4, g.size, true);
    }
    const out = g.alloc(4, 4);
    // 1024 × 4 MiB = 4 GiB of output: joined into one buffer it would not even fit in a typed array.
    assert.equal(g.call('fd_write', 1, iovs, IOV_MAX, out), ERRNO.SUCCESS);
    assert.equal(g.u32(out), (IOV_MAX * g.size) >>> 0);
    assert.ok(checks >= IOV_MAX, `the deadline was checked ${checks} times`);
  });

  it('a deadline passing in the middle of a huge write stops it', () => {
    let checks = 0;
    const stop = new Error('deadline');
    const written: number[] = [];
    const g = new RawGuest({
      pages: 64,
      capabilities: { stdio: { stdout: 'null' } },
      extra: { checkInterrupt: () => { if (++checks > 3) throw stop; }, onStdout: (c) => written.push(c.length) },
    });
    const iovs = g.alloc(8 * IOV_MAX, 4);
    const dv = new DataView(g.memory.buffer);
    for (let i = 0; i < IOV_MAX; i++) dv.setUint32(iovs + i * 8 + 4, g.size, true);
    assert.throws(() => g.call('fd_write', 1, iovs, IOV_MAX, g.alloc(4, 4)), (e) => e === stop);
    assert.ok(written.length < 10, `${written.length} buffers were written after the deadline`);
  });
});

describe('poll_oneoff subscription counts', () => {
  it('a count whose byte size wraps 32 bits is EINVAL', () => {
    const g = new RawGuest({ pages: 1 });
    const out = g.alloc(4, 4);
    // 0x05555556 × 48 = 2^32 + 32.
    assert.equal(g.call('poll_oneoff', 0, 0, 0x0555_5556, out), ERRNO.INVAL);
    assert.equal(g.call('poll_oneoff', 0, 0, -1, out), ERRNO.INVAL);
  });

  it('more than MAX_SUBSCRIPTIONS is EINVAL even when they fit in memory', () => {
    const g = new RawGuest({ pages: 16 });
    const n = MAX_SUBSCRIPTIONS + 1;
    const subs = g.alloc(48 * n, 8);
    const events = g.alloc(32 * n, 8);
    const dv = new DataView(g.memory.buffer);
    // Every subscription a zero relative timeout on the monotonic clock.
    for (let i = 0; i < n; i++) {
      dv.setUint8(subs + i * 48 + 8, 0);
      dv.setUint32(subs + i * 48 + 16, 1, true);
    }
    const out = g.alloc(4, 4);
    assert.equal(g.call('poll_oneoff', subs, events, n, out), ERRNO.INVAL);
    assert.equal(g.call('poll_oneoff', subs, events, MAX_SUBSCRIPTIONS, out), ERRNO.SUCCESS);
    assert.equal(g.u32(out), MAX_SUBSCRIPTIONS);
  });
});

describe('random_get', () => {
  it('fills a large buffer in chunks, each checked against the deadline first', () => {
    let checks = 0;
    const g = new RawGuest({ pages: 128, capabilities: { random: 'crypto' }, extra: { checkInterrupt: () => void checks++ } });
    assert.equal(g.call('random_get', 0, g.size), ERRNO.SUCCESS);
    assert.ok(checks >= g.size / HOST_WORK_CHUNK, `${checks} checks`);
    assert.ok(g.bytes(g.size - 64, 64).some((b) => b !== 0), 'the last chunk was filled');
  });

  it('stops at the deadline before filling the rest', () => {
    const stop = new Error('deadline');
    let checks = 0;
    const g = new RawGuest({ pages: 128, capabilities: { random: 'crypto' }, extra: { checkInterrupt: () => { if (++checks > 1) throw stop; } } });
    assert.throws(() => g.call('random_get', 0, g.size), (e) => e === stop);
    assert.ok(g.bytes(0, 64).some((b) => b !== 0), 'the first chunk was filled');
    assert.ok(g.bytes(HOST_WORK_CHUNK, 1 << 16).every((b) => b === 0), 'nothing after the deadline');
  });

  it('a seeded stream is the same whether filled in one piece or in chunks', () => {
    const a = new RawGuest({ pages: 64, capabilities: { random: { seed: 7 } } });
    const b = new RawGuest({ pages: 64, capabilities: { random: { seed: 7 } } });
    assert.equal(a.call('random_get', 0, a.size), ERRNO.SUCCESS);
    for (let off = 0; off < b.size; off += 1 << 16) assert.equal(b.call('random_get', off, 1 << 16), ERRNO.SUCCESS);
    assert.ok(Buffer.from(a.bytes(0, a.size)).equals(Buffer.from(b.bytes(0, b.size))));
  });
});
