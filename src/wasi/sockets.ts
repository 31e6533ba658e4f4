import type { WasiContext } from './context.ts';
import { ERRNO, fail } from './errno.ts';

/**
 * sock_accept / sock_recv / sock_send / sock_shutdown.
 *
 * This host never creates socket descriptors: preview1 cannot open sockets itself, and Node has no
 * synchronous accept/recv to serve host-preopened listeners from the guest's thread (that needs a
 * helper worker; see docs/wasi.md). So every call validates its descriptor (EBADF for a closed one)
 * and its pointers (EFAULT), then reports ENOTSOCK, which is exact: no guest descriptor is a socket.
 */
export function createSocketFunctions(ctx: WasiContext) {
  const { mem, fds } = ctx;

  function notSocket(fd: number): never {
    fds.get(fd);
    return fail(ERRNO.NOTSOCK);
  }

  return {
    sock_accept(fd: number, flags: number, fdPtr: number): number {
      mem.check(fdPtr, 4);
      if ((flags & ~4) !== 0) fail(ERRNO.INVAL);
      return notSocket(fd);
    },
    sock_recv(fd: number, riData: number, riDataLen: number, _riFlags: number, roDatalenPtr: number, roFlagsPtr: number): number {
      mem.iovecs(riData, riDataLen);
      mem.check(roDatalenPtr, 4);
      mem.check(roFlagsPtr, 2);
      return notSocket(fd);
    },
    sock_send(fd: number, siData: number, siDataLen: number, _siFlags: number, soDatalenPtr: number): number {
      mem.iovecs(siData, siDataLen);
      mem.check(soDatalenPtr, 4);
      return notSocket(fd);
    },
    sock_shutdown(fd: number, how: number): number {
      fds.get(fd);
      if ((how & ~3) !== 0 || how === 0) fail(ERRNO.INVAL);
      return notSocket(fd);
    },
  };
}
