/**
 * The failure the capability core reports for a refused or failed operation: a POSIX error name
 * (`ENOENT`, `EPERM`, ... and `ENOTCAPABLE` for a capability that was not granted), the same
 * vocabulary Node uses for `err.code`. The core knows nothing of WASI errnos or WIT error cases;
 * each ABI maps the name to its own value (preview1 through `errnoOf`, preview2 through
 * `errorCodeOf`), exactly as it maps the failures Node itself raises.
 */
export class HostError {
  readonly code: string;
  /** Set when the core refused a grant (and reported it): what was refused, for an ABI that must stop the guest instead. */
  readonly capability: string | undefined;
  readonly detail: string | undefined;
  constructor(code: string, capability?: string, detail?: string) {
    this.code = code;
    this.capability = capability;
    this.detail = detail;
  }
}

// Preallocated: failed lookups are control flow (ENOENT probing) and must not allocate or capture stacks.
const CACHED = new Map<string, HostError>();

export function hostFail(code: string): never {
  let e = CACHED.get(code);
  if (e === undefined) CACHED.set(code, (e = new HostError(code)));
  throw e;
}
