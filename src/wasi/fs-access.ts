import type { WasiContext } from './context.ts';
import { ERRNO, fail } from './errno.ts';
import type { FdEntry } from './fd-table.ts';
import type { EscapeHandler } from './path-resolver.ts';

/**
 * The two refusals of the filesystem sandbox, shared by descriptor and path operations:
 * missing WASI rights give ENOTCAPABLE; anything that would modify a read-only preopen, or reach
 * outside a preopen, gives EPERM (what wasmtime reports as `not-permitted`) and is reported.
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

export function denyReadOnly(ctx: WasiContext, e: FdEntry, operation: string): void {
  const tree = e.tree;
  if (tree !== undefined && tree.readOnly) {
    ctx.violation('filesystem', `${operation} refused: preopen '${tree.guestPath}' is read-only`);
    fail(ERRNO.PERM);
  }
}

export function escapeHandler(ctx: WasiContext, e: FdEntry): EscapeHandler {
  return (detail: string): never => {
    ctx.violation('filesystem', `path escapes preopen '${e.tree?.guestPath ?? '?'}': ${detail}`);
    return fail(ERRNO.PERM);
  };
}
