import { closeSync, constants as C, lstatSync, openSync, readlinkSync } from 'node:fs';
import { hostFail } from './host-error.ts';

/**
 * Confined path resolution: the core of the filesystem sandbox.
 *
 * A guest path is resolved one component at a time relative to a directory descriptor the host
 * already holds. Node has no openat(), so on Linux each step opens `/proc/self/fd/<dirfd>/<name>`
 * with O_NOFOLLOW: the kernel looks `<name>` up inside exactly the directory `<dirfd>` refers to,
 * never following a symlink in that last position, so no check-then-use race exists. `..` is never
 * handed to the host: it pops our own stack of held directories, and popping past the starting
 * directory is an escape. Symlinks are read and their targets spliced into the remaining path, so
 * they are followed by this same confined walk; absolute targets are escapes.
 *
 * Without /proc (non-Linux), the walk uses full host paths and lstat checks instead; a concurrent
 * host process swapping a checked directory for a symlink could then redirect it, so filesystem
 * grants are refused there unless the embedder opts in (`platform.ts`).
 *
 * In every mode a component containing `\`, `:` or NUL is refused (EINVAL): some hosts read them as
 * separators, drive letters or string ends, so such a name could mean something other than the one
 * name it is here.
 */

const O_PATH = process.platform === 'linux' ? 0o10000000 : 0;
const O_NOFOLLOW = C.O_NOFOLLOW ?? 0;
const O_DIRECTORY = C.O_DIRECTORY ?? 0;
/** Flags for directories held only to walk through; O_PATH needs no read permission and does no I/O. */
const WALK_FLAGS = (O_PATH || C.O_RDONLY) | O_DIRECTORY | O_NOFOLLOW;

export const PATH_MAX = 4096;
export const NAME_MAX = 255;
export const MAX_SYMLINKS = 40;
/** Directories held open at once while walking one path; deeper paths fail with ENAMETOOLONG. */
export const MAX_DEPTH = 256;

function detectProcFd(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const fd = openSync('/', WALK_FLAGS);
    try {
      return lstatSync(`/proc/self/fd/${fd}/.`).isDirectory();
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** Exposed so tests can exercise the portable fallback on Linux too. */
export const resolverMode = { useProcFd: detectProcFd() };

/** A directory the host holds open. */
export interface DirRef {
  readonly hostFd: number;
  /** Full host path; authoritative only in fallback mode. */
  readonly hostPath: string;
  /** Depth below the preopen root. */
  readonly depth: number;
}

/** The host path naming `name` inside `dir`, safe to hand to a *non-following* host call. */
export function childPath(dir: DirRef, name: string): string {
  return resolverMode.useProcFd ? `/proc/self/fd/${dir.hostFd}/${name}` : `${dir.hostPath}/${name}`;
}

/** `childPath` for a host-supplied name that may not be valid UTF-8 (directory listings). */
export function childPathBuffer(dir: DirRef, name: Buffer): Buffer {
  const prefix = resolverMode.useProcFd ? `/proc/self/fd/${dir.hostFd}/` : `${dir.hostPath}/`;
  return Buffer.concat([Buffer.from(prefix), name]);
}

/** Whether a path names a directory by its form: a trailing '/' or a final '.' component. */
export function endsAsDirectory(path: string): boolean {
  return path.endsWith('/') || path === '.' || path.endsWith('/.');
}

/** The host path naming `dir` itself. */
export function selfPath(dir: DirRef): string {
  return resolverMode.useProcFd ? `/proc/self/fd/${dir.hostFd}` : dir.hostPath;
}

export interface Resolved {
  /** The directory that holds the final component. */
  readonly dir: DirRef;
  /** The final component: a single name, or '.' when the path denotes `dir` itself. */
  readonly name: string;
  /** The path ended in '/' (directly or through a symlink target): the final must be a directory. */
  readonly mustBeDir: boolean;
  /** Whether `dir` was opened by the walk (and is closed by `release`). */
  readonly ownsDir: boolean;
}

export function release(r: Resolved): void {
  if (r.ownsDir) closeQuietly(r.dir.hostFd);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing useful to do
  }
}

/** Characters a component may not contain on any host (see the header). */
const SPECIAL = /[\\:\0]/;

/** Splits into components, dropping empty and '.' ones; `dirMarker` says the path named a directory. */
/** EINVAL for a guest-supplied name or path holding a character some host treats specially. */
export function checkGuestName(path: string): void {
  if (SPECIAL.test(path)) hostFail('EINVAL');
}

function split(path: string): { comps: string[]; dirMarker: boolean } {
  checkGuestName(path);
  const raw = path.split('/');
  const comps: string[] = [];
  for (const c of raw) if (c !== '' && c !== '.') comps.push(c);
  const lastRaw = raw[raw.length - 1];
  return { comps, dirMarker: lastRaw === '' || lastRaw === '.' };
}

export type EscapeHandler = (detail: string) => never;

/**
 * Opens `name` inside `parent` as a directory to walk through. 'symlink' means it is a link to be
 * expanded; 'retry' means it changed under us (a concurrent rename) and the step must be redone.
 */
function openChildDir(parent: DirRef, name: string): DirRef | 'symlink' | 'retry' {
  const path = childPath(parent, name);
  try {
    const fd = openSync(path, WALK_FLAGS);
    return { hostFd: fd, hostPath: `${parent.hostPath}/${name}`, depth: parent.depth + 1 };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // O_NOFOLLOW|O_DIRECTORY reports a symlink as ELOOP or ENOTDIR depending on O_PATH: tell them apart.
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (st === undefined) hostFail('ENOENT');
      if (st.isSymbolicLink()) return 'symlink';
      if (st.isDirectory()) return 'retry';
      hostFail('ENOTDIR');
    }
    throw err;
  }
}

/** The target of a symlink, or undefined when `name` stopped being one since we looked (a race). */
function readLinkTarget(dir: DirRef, name: string): string | undefined {
  try {
    return readlinkSync(childPath(dir, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw err;
  }
}

/**
 * Resolves `path` beneath `start`. Intermediate symlinks are always followed (confined); the final
 * one only when `followFinal` (callers that look things up pass `follow || endsAsDirectory(path)`,
 * as POSIX follows before a trailing slash; creators and removers never follow it).
 * A nonexistent final component is not an error here: creators need it.
 */
export function resolvePath(start: DirRef, path: string, followFinal: boolean, escape: EscapeHandler): Resolved {
  if (path.length === 0) hostFail('ENOENT');
  if (path.length > PATH_MAX) hostFail('ENAMETOOLONG');
  if (path.charCodeAt(0) === 47 /* / */) escape(`absolute path '${path}'`);
  let { comps, dirMarker: mustBeDir } = split(path);
  const stack: DirRef[] = [start];
  let links = 0;
  let i = 0;
  let done = false;
  try {
    for (;;) {
      if (i >= comps.length) {
        done = true;
        return finish(stack, '.', true);
      }
      const c = comps[i];
      if (c.length > NAME_MAX) hostFail('ENAMETOOLONG');
      const top = stack[stack.length - 1];
      if (c === '..') {
        if (stack.length === 1) escape(`'..' leads outside the directory in '${path}'`);
        closeQuietly(stack.pop()!.hostFd);
        i++;
        continue;
      }
      const last = i === comps.length - 1;
      let isLink = false;
      if (!last) {
        const child = openChildDir(top, c);
        if (child === 'retry') {
          // Counted like a link so a directory flapping forever still ends the walk.
          if (++links > MAX_SYMLINKS) hostFail('ELOOP');
          continue;
        }
        if (child !== 'symlink') {
          if (stack.length >= MAX_DEPTH) {
            closeQuietly(child.hostFd);
            hostFail('ENAMETOOLONG');
          }
          stack.push(child);
          i++;
          continue;
        }
        isLink = true;
      } else if (followFinal) {
        const st = lstatSync(childPath(top, c), { throwIfNoEntry: false });
        isLink = st !== undefined && st.isSymbolicLink();
      }
      if (!isLink) {
        done = true;
        return finish(stack, c, mustBeDir);
      }
      if (++links > MAX_SYMLINKS) hostFail('ELOOP');
      const target = readLinkTarget(top, c);
      if (target === undefined) continue;
      if (target.length === 0) hostFail('ENOENT');
      if (target.charCodeAt(0) === 47) escape(`symlink '${c}' points to the absolute path '${target}'`);
      const t = split(target);
      if (last && t.dirMarker) mustBeDir = true;
      comps = t.comps.concat(comps.slice(i + 1));
      if (comps.length > PATH_MAX) hostFail('ENAMETOOLONG');
      i = 0;
    }
  } finally {
    if (!done) for (let k = 1; k < stack.length; k++) closeQuietly(stack[k].hostFd);
  }
}

function finish(stack: DirRef[], name: string, mustBeDir: boolean): Resolved {
  // Only the directory holding the final component stays open.
  for (let k = 1; k < stack.length - 1; k++) closeQuietly(stack[k].hostFd);
  return { dir: stack[stack.length - 1], name, mustBeDir, ownsDir: stack.length > 1 };
}

/**
 * Checks, without touching the host, that a symlink target written at `depth` below the preopen
 * root stays inside it when read lexically. Defence in depth: following is confined regardless, but
 * a host tool walking the tree later should not meet a guest-made link that climbs out.
 */
export function symlinkTargetStaysInside(target: string, depth: number): boolean {
  if (target.charCodeAt(0) === 47) return false;
  let d = depth;
  for (const c of target.split('/')) {
    if (c === '..') {
      if (--d < 0) return false;
    } else if (c !== '' && c !== '.') d++;
  }
  return true;
}
