import type { WasiContext } from './context.ts';
import { ERRNO, fail } from './errno.ts';
import type { FdEntry } from './fd-table.ts';

/**
 * Preview1's own refusal: a descriptor without the WASI rights an operation needs gives
 * ENOTCAPABLE. Whether the sandbox allows the operation at all (read-only preopens, paths leaving
 * a preopen) is decided by the filesystem core (`src/host/filesystem.ts`).
 */

export function needRights(e: FdEntry, rights: number): void {
  if ((e.rightsBase & rights) !== rights) fail(ERRNO.NOTCAPABLE);
}

/** The directory descriptor a path operation starts from. */
export function dirEntry(ctx: WasiContext, fd: number): FdEntry {
  const e = ctx.fds.get(fd);
  if (e.kind !== 'directory') fail(ERRNO.NOTDIR);
  return e;
}

/** The core's check for changing what a file or directory descriptor refers to. */
export function requireChange(ctx: WasiContext, e: FdEntry, operation: string): void {
  ctx.fs.requireChange(e, e.kind === 'directory', operation);
}
