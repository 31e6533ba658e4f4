/**
 * WASI preview1 errno values, the internal exception that carries one back to the guest, and the
 * translation of Node's `err.code` strings.
 */

export const ERRNO = {
  SUCCESS: 0, TOOBIG: 1, ACCES: 2, ADDRINUSE: 3, ADDRNOTAVAIL: 4, AFNOSUPPORT: 5, AGAIN: 6, ALREADY: 7,
  BADF: 8, BADMSG: 9, BUSY: 10, CANCELED: 11, CHILD: 12, CONNABORTED: 13, CONNREFUSED: 14, CONNRESET: 15,
  DEADLK: 16, DESTADDRREQ: 17, DOM: 18, DQUOT: 19, EXIST: 20, FAULT: 21, FBIG: 22, HOSTUNREACH: 23,
  IDRM: 24, ILSEQ: 25, INPROGRESS: 26, INTR: 27, INVAL: 28, IO: 29, ISCONN: 30, ISDIR: 31, LOOP: 32,
  MFILE: 33, MLINK: 34, MSGSIZE: 35, MULTIHOP: 36, NAMETOOLONG: 37, NETDOWN: 38, NETRESET: 39,
  NETUNREACH: 40, NFILE: 41, NOBUFS: 42, NODEV: 43, NOENT: 44, NOEXEC: 45, NOLCK: 46, NOLINK: 47,
  NOMEM: 48, NOMSG: 49, NOPROTOOPT: 50, NOSPC: 51, NOSYS: 52, NOTCONN: 53, NOTDIR: 54, NOTEMPTY: 55,
  NOTRECOVERABLE: 56, NOTSOCK: 57, NOTSUP: 58, NOTTY: 59, NXIO: 60, OVERFLOW: 61, OWNERDEAD: 62,
  PERM: 63, PIPE: 64, PROTO: 65, PROTONOSUPPORT: 66, PROTOTYPE: 67, RANGE: 68, ROFS: 69, SPIPE: 70,
  SRCH: 71, STALE: 72, TIMEDOUT: 73, TXTBSY: 74, XDEV: 75, NOTCAPABLE: 76,
} as const;

export type Errno = (typeof ERRNO)[keyof typeof ERRNO];

/**
 * Thrown inside host functions and turned into the function's return value by the import wrapper.
 * It deliberately skips stack capture: it is control flow, raised on every failed lookup.
 */
export class WasiErrno {
  readonly errno: number;
  constructor(errno: number) {
    this.errno = errno;
  }
}

// Preallocated so the hot failure paths (EBADF probing of fds, ENOENT lookups) allocate nothing.
const CACHED: WasiErrno[] = Array.from({ length: 77 }, (_, i) => new WasiErrno(i));

export function fail(errno: number): never {
  throw CACHED[errno] ?? new WasiErrno(errno);
}

// Node reports host failures as `err.code` strings; these are the POSIX names it uses, which the
// capability core's HostError uses too.
const NODE_CODES: Record<string, number> = {
  E2BIG: ERRNO.TOOBIG, EACCES: ERRNO.ACCES, EADDRINUSE: ERRNO.ADDRINUSE, EADDRNOTAVAIL: ERRNO.ADDRNOTAVAIL,
  EAFNOSUPPORT: ERRNO.AFNOSUPPORT, EAGAIN: ERRNO.AGAIN, EWOULDBLOCK: ERRNO.AGAIN, EALREADY: ERRNO.ALREADY,
  EBADF: ERRNO.BADF, EBADMSG: ERRNO.BADMSG, EBUSY: ERRNO.BUSY, ECANCELED: ERRNO.CANCELED, ECHILD: ERRNO.CHILD,
  ECONNABORTED: ERRNO.CONNABORTED, ECONNREFUSED: ERRNO.CONNREFUSED, ECONNRESET: ERRNO.CONNRESET,
  EDEADLK: ERRNO.DEADLK, EDESTADDRREQ: ERRNO.DESTADDRREQ, EDOM: ERRNO.DOM, EDQUOT: ERRNO.DQUOT,
  EEXIST: ERRNO.EXIST, EFAULT: ERRNO.FAULT, EFBIG: ERRNO.FBIG, EHOSTUNREACH: ERRNO.HOSTUNREACH,
  EIDRM: ERRNO.IDRM, EILSEQ: ERRNO.ILSEQ, EINPROGRESS: ERRNO.INPROGRESS, EINTR: ERRNO.INTR,
  EINVAL: ERRNO.INVAL, EIO: ERRNO.IO, EISCONN: ERRNO.ISCONN, EISDIR: ERRNO.ISDIR, ELOOP: ERRNO.LOOP,
  EMFILE: ERRNO.MFILE, EMLINK: ERRNO.MLINK, EMSGSIZE: ERRNO.MSGSIZE, EMULTIHOP: ERRNO.MULTIHOP,
  ENAMETOOLONG: ERRNO.NAMETOOLONG, ENETDOWN: ERRNO.NETDOWN, ENETRESET: ERRNO.NETRESET,
  ENETUNREACH: ERRNO.NETUNREACH, ENFILE: ERRNO.NFILE, ENOBUFS: ERRNO.NOBUFS, ENODEV: ERRNO.NODEV,
  ENOENT: ERRNO.NOENT, ENOEXEC: ERRNO.NOEXEC, ENOLCK: ERRNO.NOLCK, ENOLINK: ERRNO.NOLINK,
  ENOMEM: ERRNO.NOMEM, ENOMSG: ERRNO.NOMSG, ENOPROTOOPT: ERRNO.NOPROTOOPT, ENOSPC: ERRNO.NOSPC,
  ENOSYS: ERRNO.NOSYS, ENOTCONN: ERRNO.NOTCONN, ENOTDIR: ERRNO.NOTDIR, ENOTEMPTY: ERRNO.NOTEMPTY,
  ENOTRECOVERABLE: ERRNO.NOTRECOVERABLE, ENOTSOCK: ERRNO.NOTSOCK, ENOTSUP: ERRNO.NOTSUP,
  EOPNOTSUPP: ERRNO.NOTSUP, ENOTTY: ERRNO.NOTTY, ENXIO: ERRNO.NXIO, EOVERFLOW: ERRNO.OVERFLOW,
  EOWNERDEAD: ERRNO.OWNERDEAD, EPERM: ERRNO.PERM, EPIPE: ERRNO.PIPE, EPROTO: ERRNO.PROTO,
  EPROTONOSUPPORT: ERRNO.PROTONOSUPPORT, EPROTOTYPE: ERRNO.PROTOTYPE, ERANGE: ERRNO.RANGE,
  EROFS: ERRNO.ROFS, ESPIPE: ERRNO.SPIPE, ESRCH: ERRNO.SRCH, ESTALE: ERRNO.STALE, ETIMEDOUT: ERRNO.TIMEDOUT,
  ETXTBSY: ERRNO.TXTBSY, EXDEV: ERRNO.XDEV,
  // Raised by the capability core (src/host) for a grant that is missing; not a Node code.
  ENOTCAPABLE: ERRNO.NOTCAPABLE,
};

/**
 * The errno for a failure a host function may report to the guest, or `undefined` when the failure
 * must instead end the guest (limits, timeouts, exit, host bugs).
 */
export function errnoOf(err: unknown): number | undefined {
  if (err instanceof WasiErrno) return err.errno;
  if (err !== null && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') {
      const n = NODE_CODES[code];
      if (n !== undefined) return n;
      // Node's own argument validation (e.g. a NUL inside a path) means the guest passed a bad value.
      if (code.startsWith('ERR_INVALID_ARG') || code === 'ERR_OUT_OF_RANGE') return ERRNO.INVAL;
      if (code === 'ERR_FS_FILE_TOO_LARGE') return ERRNO.FBIG;
    }
  }
  return undefined;
}
