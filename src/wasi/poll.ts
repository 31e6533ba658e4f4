import { fstatSync } from 'node:fs';
import { EVENTRWFLAGS_HANGUP, EVENTTYPE, RIGHTS, SUBCLOCKFLAGS_ABSTIME } from './constants.ts';
import { validId } from './clocks.ts';
import type { WasiContext } from './context.ts';
import { ERRNO, fail } from './errno.ts';

/** Where the fields of one subscription record sit; wasi_unstable's clock subscription has an extra field. */
interface SubscriptionLayout {
  size: number;
  clockId: number;
  timeout: number;
  flags: number;
}

export const PREVIEW1_SUBSCRIPTION: SubscriptionLayout = { size: 48, clockId: 16, timeout: 24, flags: 40 };
export const UNSTABLE_SUBSCRIPTION: SubscriptionLayout = { size: 56, clockId: 24, timeout: 32, flags: 48 };

const EVENT_SIZE = 32;

interface PendingEvent {
  userdata: bigint;
  error: number;
  type: number;
  nbytes: bigint;
  flags: number;
}

/**
 * poll_oneoff. Descriptor subscriptions are answered at once: files, captured/null stdin and all
 * outputs never block, and an inherited stdin is reported readable (Node offers no synchronous
 * readiness test; the read itself then waits). When only clocks are subscribed, the thread sleeps
 * until the earliest one fires, never past the embedder's remaining budget, checking for interrupts.
 */
export function createPoll(ctx: WasiContext, layout: SubscriptionLayout) {
  const { mem, fds, clock } = ctx;

  function fdEvent(userdata: bigint, type: number, fd: number): PendingEvent {
    const ev: PendingEvent = { userdata, error: ERRNO.SUCCESS, type, nbytes: 0n, flags: 0 };
    if (!fds.has(fd)) {
      ev.error = ERRNO.BADF;
      return ev;
    }
    const e = fds.get(fd);
    if ((e.rightsBase & RIGHTS.POLL_FD_READWRITE) === 0 && (e.rightsBase & (type === EVENTTYPE.FD_READ ? RIGHTS.FD_READ : RIGHTS.FD_WRITE)) === 0) {
      ev.error = ERRNO.NOTCAPABLE;
      return ev;
    }
    if (e.kind === 'stdin' && type === EVENTTYPE.FD_READ) {
      const avail = ctx.stdio.stdin.available();
      if (avail !== undefined) {
        ev.nbytes = BigInt(avail);
        if (avail === 0) ev.flags = EVENTRWFLAGS_HANGUP;
      }
    } else if (e.kind === 'file' && type === EVENTTYPE.FD_READ) {
      const size = fstatSync(e.hostFd).size;
      ev.nbytes = BigInt(Math.max(0, size - e.position));
    } else if (e.kind === 'directory') {
      ev.error = ERRNO.BADF;
    }
    return ev;
  }

  return function poll_oneoff(inPtr: number, outPtr: number, nsubscriptions: number, neventsPtr: number): number {
    const n = nsubscriptions >>> 0;
    if (n === 0) fail(ERRNO.INVAL);
    mem.check(inPtr, n * layout.size);
    mem.check(outPtr, n * EVENT_SIZE);
    mem.check(neventsPtr, 4);
    const ready: PendingEvent[] = [];
    const timers: Array<{ userdata: bigint; ns: bigint }> = [];
    const dv = mem.dv();
    for (let i = 0; i < n; i++) {
      const p = (inPtr >>> 0) + i * layout.size;
      const userdata = dv.getBigUint64(p, true);
      const tag = dv.getUint8(p + 8);
      if (tag === EVENTTYPE.CLOCK) {
        const id = dv.getUint32(p + layout.clockId, true);
        const timeout = dv.getBigUint64(p + layout.timeout, true);
        const flags = dv.getUint16(p + layout.flags, true);
        const ev: PendingEvent = { userdata, error: ERRNO.SUCCESS, type: EVENTTYPE.CLOCK, nbytes: 0n, flags: 0 };
        try {
          let ns = timeout;
          if (flags & SUBCLOCKFLAGS_ABSTIME) ns = timeout - clock.now(id);
          else validId(id);
          timers.push({ userdata, ns: ns < 0n ? 0n : ns });
        } catch (err) {
          const errno = (err as { errno?: number }).errno;
          if (typeof errno !== 'number') throw err;
          ev.error = errno;
          ready.push(ev);
        }
      } else if (tag === EVENTTYPE.FD_READ || tag === EVENTTYPE.FD_WRITE) {
        ready.push(fdEvent(userdata, tag, dv.getUint32(p + 16, true)));
      } else {
        fail(ERRNO.INVAL);
      }
    }
    if (ready.length === 0 && timers.length > 0) {
      let min = timers[0].ns;
      for (const t of timers) if (t.ns < min) min = t.ns;
      if (min > 0n) clock.sleep(min, ctx.remainingMs, ctx.checkInterrupt);
      else ctx.checkInterrupt();
      for (const t of timers) {
        if (t.ns <= min) ready.push({ userdata: t.userdata, error: ERRNO.SUCCESS, type: EVENTTYPE.CLOCK, nbytes: 0n, flags: 0 });
      }
    }
    const out = mem.dv();
    for (let i = 0; i < ready.length; i++) {
      const p = (outPtr >>> 0) + i * EVENT_SIZE;
      const ev = ready[i];
      for (let k = 0; k < EVENT_SIZE; k += 4) out.setUint32(p + k, 0);
      out.setBigUint64(p, ev.userdata, true);
      out.setUint16(p + 8, ev.error, true);
      out.setUint8(p + 10, ev.type);
      out.setBigUint64(p + 16, ev.nbytes, true);
      out.setUint16(p + 24, ev.flags, true);
    }
    mem.setU32(neventsPtr, ready.length);
    return ERRNO.SUCCESS;
  };
}
