/**
 * The flags the threads of one component server share about instance reuse (an Int32Array over a
 * SharedArrayBuffer of REUSE_FLAGS_BYTES): whether it has been turned off for this guest, and whether
 * some instance has proved that the guest serves several requests.
 */
export const REUSE_OFF = 0;
export const REUSE_PROVEN = 1;
export const REUSE_FLAGS_BYTES = 8;
