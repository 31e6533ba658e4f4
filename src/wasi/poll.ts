import { fstatSync } from 'node:fs';
import { EVENTRWFLAGS_HANGUP, EVENTTYPE, RIGHTS, SUBCLOCKFLAGS_ABSTIME } from './constants.ts';
import { validId } from './clocks.ts';
import type { WasiContext } from './context.ts';
import { errnoOf, ERRNO, fail } from './errno.ts';
import type { FdEntry } from './fd-table.ts';
import { isSocket } from './sockets.ts';

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
/**
 * Subscriptions one poll_oneoff takes at most (EINVAL beyond, as poll(2) past RLIMIT_NOFILE): each
 * becomes a host object, so their number must not be the guest's to choose.
 */
export const MAX_SUBSCRIPTIONS = 4096;

interface PendingEvent {
  userdata: bigint;
  error: number;
  type: number;
  nbytes: bigint;
  flags: number;
}

interface SocketSubscription {
  userdata: bigint;
  type: number;
  entry: FdEntry;
  write: boolean;
}

/**
 * poll_oneoff. Descriptor subscriptions are answered at once: files, captured/null stdin and all
 * outputs never block, and an inherited stdin is reported readable (Node offers no synchronous
 * readiness test; the read itself then waits). Sockets report what the socket helper knows; while
 * none is ready (and nothing else is), the thread waits for the helper's events or the earliest
 * clock. When only clocks are subscribed, the thread sleeps until the earliest one fires. Waits never
 * pass the embedder's remaining budget and check for interrupts.
 */
export function createPoll(ctx: WasiContext, layout: SubscriptionLayout) {
  const { mem, fds, clock } = ctx;

  function mayPoll(e: FdEntry, type: number): boolean {
    return (e.rightsBase & RIGHTS.POLL_FD_READWRITE) !== 0 || (e.rightsBase & (type === EVENTTYPE.FD_READ ? RIGHTS.FD_READ : RIGHTS.FD_WRITE)) !== 0;
  }

  function fdEvent(userdata: bigint, type: number, fd: number): PendingEvent {
    const ev: PendingEvent = { userdata, error: ERRNO.SUCCESS, type, nbytes: 0n, flags: 0 };
    if (!fds.has(fd)) {
      ev.error = ERRNO.BADF;
      return ev;
    }
    const e = fds.get(fd);
    if (!mayPoll(e, type)) {
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

  /** Adds the ready sockets to `ready`; waits while nothing is ready, up to `timeoutNs`. Returns whether the timeout passed. */
  function pollSockets(subs: SocketSubscription[], ready: PendingEvent[], timeoutNs: bigint | undefined): boolean {
    const sockets = ctx.sockets!;
    const end = timeoutNs === undefined ? Infinity : performance.now() + Number(timeoutNs) / 1e6;
    for (;;) {
      const seq = sockets.seq();
      const states = sockets.readiness(subs);
      let any = false;
      states.forEach((st, i) => {
        if (!st.ready) return;
        any = true;
        const sub = subs[i];
        ready.push({ userdata: sub.userdata, error: st.errno, type: sub.type, nbytes: BigInt(st.nbytes), flags: st.hangup ? EVENTRWFLAGS_HANGUP : 0 });
      });
      if (any || ready.length > 0) return false;
      const left = end - performance.now();
      if (left <= 0) return true;
      sockets.waitEvent(seq, left);
    }
  }

  return function poll_oneoff(inPtr: number, outPtr: number, nsubscriptions: number, neventsPtr: number): number {
    const n = nsubscriptions >>> 0;
    if (n === 0 || n > MAX_SUBSCRIPTIONS) fail(ERRNO.INVAL);
    mem.check(inPtr, n * layout.size);
    mem.check(outPtr, n * EVENT_SIZE);
    mem.check(neventsPtr, 4);
    const ready: PendingEvent[] = [];
    const timers: Array<{ userdata: bigint; ns: bigint }> = [];
    const socketSubs: SocketSubscription[] = [];
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
          const errno = errnoOf(err);
          if (errno === undefined) throw err;
          ev.error = errno;
          ready.push(ev);
        }
      } else if (tag === EVENTTYPE.FD_READ || tag === EVENTTYPE.FD_WRITE) {
        const fd = dv.getUint32(p + 16, true);
        const e = fds.has(fd) ? fds.get(fd) : undefined;
        if (e !== undefined && isSocket(e) && ctx.sockets !== undefined && mayPoll(e, tag)) {
          socketSubs.push({ userdata, type: tag, entry: e, write: tag === EVENTTYPE.FD_WRITE });
        } else {
          ready.push(fdEvent(userdata, tag, fd));
        }
      } else {
        fail(ERRNO.INVAL);
      }
    }
    let min: bigint | undefined;
    for (const t of timers) if (min === undefined || t.ns < min) min = t.ns;
    let timersDue = false;
    if (socketSubs.length > 0) {
      timersDue = pollSockets(socketSubs, ready, min);
      // The wait above was real time; a virtual clock still has to move on by the timeout it covered.
      if (timersDue && clock.policy === 'virtual') clock.sleep(min!, ctx.remainingMs, ctx.checkInterrupt);
    } else if (ready.length === 0 && min !== undefined) {
      if (min > 0n) clock.sleep(min, ctx.remainingMs, ctx.checkInterrupt);
      else ctx.checkInterrupt();
      timersDue = true;
    }
    if (timersDue) {
      for (const t of timers) {
        if (t.ns <= min!) ready.push({ userdata: t.userdata, error: ERRNO.SUCCESS, type: EVENTTYPE.CLOCK, nbytes: 0n, flags: 0 });
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
