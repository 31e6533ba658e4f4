/**
 * Clocks (real, virtual, none), poll_oneoff, sched_yield and random_get.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Timeout } from '../../src/errors.ts';
import { VIRTUAL_STEP_NS } from '../../src/host/clock.ts';
import { CLOCKID, EVENTTYPE } from '../../src/wasi/constants.ts';
import { ERRNO } from '../../src/wasi/errno.ts';
import { RawGuest } from './raw-guest.ts';

function now(g: RawGuest, id: number): [number, bigint] {
  const out = g.alloc(8);
  const e = g.call('clock_time_get', id, 1n, out);
  return [e, g.u64(out)];
}

/** Writes subscriptions and runs poll_oneoff; returns [errno, events]. */
function poll(g: RawGuest, subs: Array<{ userdata: bigint; clock?: { id: number; timeout: bigint; abstime?: boolean }; fd?: number; type?: number }>) {
  const inPtr = g.alloc(48 * subs.length);
  const outPtr = g.alloc(32 * subs.length);
  const n = g.alloc(4);
  const dv = new DataView(g.memory.buffer);
  subs.forEach((s, i) => {
    const p = inPtr + i * 48;
    dv.setBigUint64(p, s.userdata, true);
    if (s.clock) {
      dv.setUint8(p + 8, EVENTTYPE.CLOCK);
      dv.setUint32(p + 16, s.clock.id, true);
      dv.setBigUint64(p + 24, s.clock.timeout, true);
      dv.setUint16(p + 40, s.clock.abstime ? 1 : 0, true);
    } else {
      dv.setUint8(p + 8, s.type ?? EVENTTYPE.FD_READ);
      dv.setUint32(p + 16, s.fd ?? 0, true);
    }
  });
  const e = g.call('poll_oneoff', inPtr, outPtr, subs.length, n);
  const events = [];
  for (let i = 0; i < (e === 0 ? g.u32(n) : 0); i++) {
    const p = outPtr + i * 32;
    events.push({ userdata: g.u64(p), error: g.u16(p + 8), type: g.u8(p + 10), nbytes: g.u64(p + 16), flags: g.u16(p + 24) });
  }
  return [e, events] as const;
}

describe('real clock', () => {
  it('tracks wall time and is monotonic', () => {
    const g = new RawGuest({ capabilities: { clock: 'real' } });
    const [e, wall] = now(g, CLOCKID.REALTIME);
    assert.equal(e, 0);
    const diffMs = Number(wall / 1_000_000n) - Date.now();
    assert.ok(Math.abs(diffMs) < 1000, `realtime off by ${diffMs} ms`);
    const a = now(g, CLOCKID.MONOTONIC)[1];
    const b = now(g, CLOCKID.MONOTONIC)[1];
    assert.ok(b >= a);
    assert.equal(now(g, CLOCKID.PROCESS_CPUTIME_ID)[0], 0);
    assert.equal(now(g, CLOCKID.THREAD_CPUTIME_ID)[0], 0);
    assert.equal(now(g, 9)[0], ERRNO.INVAL);
    const res = g.alloc(8);
    assert.equal(g.call('clock_res_get', CLOCKID.MONOTONIC, res), 0);
    assert.ok(g.u64(res) > 0n);
  });

  it('poll_oneoff sleeps for a relative timeout, and for an absolute deadline', () => {
    const g = new RawGuest({ capabilities: { clock: 'real' } });
    let t0 = performance.now();
    const [e, events] = poll(g, [{ userdata: 7n, clock: { id: CLOCKID.MONOTONIC, timeout: 30_000_000n } }]);
    assert.equal(e, 0);
    assert.ok(performance.now() - t0 >= 29, 'slept at least the timeout');
    assert.deepEqual(events.map((x) => [x.userdata, x.error, x.type]), [[7n, 0, EVENTTYPE.CLOCK]]);
    // The start is taken before the deadline is read, so however long a loaded machine takes in
    // between, the time measured can only exceed the sleep (a lower bound only: no timing window).
    t0 = performance.now();
    const deadline = now(g, CLOCKID.MONOTONIC)[1] + 20_000_000n;
    poll(g, [{ userdata: 1n, clock: { id: CLOCKID.MONOTONIC, timeout: deadline, abstime: true } }]);
    assert.ok(performance.now() - t0 >= 19, 'slept until the absolute deadline');
  });

  it('never sleeps past remainingMs, and lets checkInterrupt stop the guest for good', () => {
    let budget = 40;
    const started = performance.now();
    const g = new RawGuest({
      capabilities: { clock: 'real' },
      extra: {
        remainingMs: () => budget - (performance.now() - started),
        checkInterrupt: () => {
          const elapsed = performance.now() - started;
          if (elapsed > budget) throw new Timeout('call', budget, elapsed);
        },
      },
    });
    assert.throws(() => poll(g, [{ userdata: 1n, clock: { id: CLOCKID.MONOTONIC, timeout: 10_000_000_000n } }]), Timeout);
    assert.ok(performance.now() - started < 1000, 'a 10 s sleep was cut short');
    budget = 1e9;
    assert.throws(() => g.call('sched_yield'), Timeout, 'every later call rethrows');
  });

  it('answers descriptor subscriptions at once and reports bad descriptors', () => {
    const g = new RawGuest({ capabilities: { clock: 'real' }, extra: { stdin: 'abc' } });
    const t0 = performance.now();
    const [e, events] = poll(g, [
      { userdata: 1n, clock: { id: CLOCKID.MONOTONIC, timeout: 5_000_000_000n } },
      { userdata: 2n, fd: 0, type: EVENTTYPE.FD_READ },
      { userdata: 3n, fd: 1, type: EVENTTYPE.FD_WRITE },
      { userdata: 4n, fd: 42, type: EVENTTYPE.FD_READ },
    ]);
    assert.equal(e, 0);
    assert.ok(performance.now() - t0 < 1000);
    assert.deepEqual(events.map((x) => [x.userdata, x.error, x.type, x.nbytes]), [
      [2n, 0, EVENTTYPE.FD_READ, 3n],
      [3n, 0, EVENTTYPE.FD_WRITE, 0n],
      [4n, ERRNO.BADF, EVENTTYPE.FD_READ, 0n],
    ]);
    assert.equal(poll(g, [])[0], ERRNO.INVAL);
  });
});

describe('virtual clock', () => {
  it('is deterministic: starts at 0, advances a fixed step per read and by sleeps, never sleeps for real', () => {
    const run = (): bigint[] => {
      const g = new RawGuest({ capabilities: { clock: 'virtual' } });
      const seq = [now(g, CLOCKID.REALTIME)[1], now(g, CLOCKID.MONOTONIC)[1]];
      const t0 = performance.now();
      poll(g, [{ userdata: 1n, clock: { id: CLOCKID.MONOTONIC, timeout: 3_600_000_000_000n } }]);
      assert.ok(performance.now() - t0 < 500, 'an hour of virtual sleep takes no real time');
      seq.push(now(g, CLOCKID.MONOTONIC)[1]);
      return seq;
    };
    const a = run();
    assert.deepEqual(a, [0n, VIRTUAL_STEP_NS, 2n * VIRTUAL_STEP_NS + 3_600_000_000_000n]);
    assert.deepEqual(run(), a);
  });
});

describe('no clock', () => {
  it('refuses time with ENOTCAPABLE and reports it, but validates the clock id first', () => {
    const g = new RawGuest({ capabilities: { clock: 'none' } });
    assert.equal(now(g, CLOCKID.REALTIME)[0], ERRNO.NOTCAPABLE);
    assert.equal(g.call('clock_res_get', CLOCKID.MONOTONIC, g.alloc(8)), ERRNO.NOTCAPABLE);
    assert.equal(now(g, 9)[0], ERRNO.INVAL);
    assert.ok(g.violations.some((v) => v.capability === 'clock'));
    // Absolute deadlines need the time; relative sleeps do not reveal it and stay allowed.
    const [, events] = poll(g, [{ userdata: 1n, clock: { id: CLOCKID.REALTIME, timeout: 1n, abstime: true } }]);
    assert.equal(events[0].error, ERRNO.NOTCAPABLE);
    const [e2, ev2] = poll(g, [{ userdata: 2n, clock: { id: CLOCKID.MONOTONIC, timeout: 1_000_000n } }]);
    assert.equal(e2, 0);
    assert.equal(ev2[0].error, 0);
  });
});

describe('random_get', () => {
  function random(g: RawGuest, n: number): [number, Uint8Array] {
    const buf = g.alloc(n);
    const e = g.call('random_get', buf, n);
    return [e, g.bytes(buf, n)];
  }

  it('is reproducible for a seed and differs between seeds', () => {
    const a = random(new RawGuest({ capabilities: { random: { seed: 42 } } }), 1003)[1];
    const b = random(new RawGuest({ capabilities: { random: { seed: 42 } } }), 1003)[1];
    const c = random(new RawGuest({ capabilities: { random: { seed: 43 } } }), 1003)[1];
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const g = new RawGuest({ capabilities: { random: { seed: 42 } } });
    const first = random(g, 500)[1];
    const second = random(g, 503)[1];
    assert.deepEqual(first, a.subarray(0, 500), 'the stream is the same however it is split at word boundaries');
    assert.notDeepEqual(second.subarray(0, 16), first.subarray(0, 16));
    // A crude sanity check of the distribution.
    const ones = a.reduce((n, byte) => n + byte.toString(2).split('1').length - 1, 0);
    assert.ok(Math.abs(ones / (1003 * 8) - 0.5) < 0.05);
  });

  it('uses the crypto source by policy, and refuses when none is granted', () => {
    const [e, bytes] = random(new RawGuest({ capabilities: { random: 'crypto' } }), 64);
    assert.equal(e, 0);
    assert.ok(bytes.some((b) => b !== 0));
    const g = new RawGuest({ capabilities: { random: 'none' } });
    assert.equal(random(g, 8)[0], ERRNO.NOTCAPABLE);
    assert.equal(g.violations[0].capability, 'random');
    assert.equal(random(new RawGuest({ capabilities: { random: 'crypto' } }), 0)[0], 0);
  });
});
