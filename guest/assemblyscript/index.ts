/**
 * wasm-sandbox guest SDK for AssemblyScript: the structured-call ABI v1 (docs/guest-abi.md) and the
 * guest side of a MemoryChannel.
 *
 * AssemblyScript cannot spell an export name with a colon, so data functions are exported with an
 * underscore (`wsdata_echo`) and `transform.js` (pass `--transform` to asc) renames the `wsdata_` and
 * `wschan_` prefixes to `wsdata:` and `wschan:` in the compiled module. A guest re-exports the ABI's
 * own functions once:
 *
 *   export { wsdata_abi_v1, wsdata_alloc, wsdata_free } from "path/to/guest/assemblyscript/index";
 *
 *   export function wsdata_echo(ptr: usize, len: u32): u64 {
 *     return ok(takeInput(ptr, len));
 *   }
 *
 * Build with `--use abort=` (or provide `env.abort` as a host function): the sandbox links nothing a
 * guest does not ask for.
 */

/** Declares ABI v1. */
export function wsdata_abi_v1(): void {}

/** Allocates input buffers for the host; the guest owns them once the call starts. */
export function wsdata_alloc(size: u32): usize {
  return heap.alloc(size > 0 ? <usize>size : 1);
}

/** Releases a result buffer after the host has copied it. */
export function wsdata_free(ptr: usize, size: u32): void {
  if (ptr != 0) heap.free(ptr);
}

const ERROR_FLAG: u64 = 1 << 63;

function pack(ptr: usize, len: u32, isError: bool): u64 {
  return ((<u64>(len & 0x7fffffff)) << 32) | <u64>ptr | (isError ? ERROR_FLAG : 0);
}

/** A data function's input as bytes; the input buffer is freed. */
export function takeInput(ptr: usize, len: u32): Uint8Array {
  const out = new Uint8Array(len);
  memory.copy(out.dataStart, ptr, len);
  if (ptr != 0) heap.free(ptr);
  return out;
}

/** A data function's input as a string (UTF-8); the input buffer is freed. */
export function takeInputString(ptr: usize, len: u32): string {
  const text = String.UTF8.decodeUnsafe(ptr, len);
  if (ptr != 0) heap.free(ptr);
  return text;
}

function copyOut(src: usize, len: u32): usize {
  if (len == 0) return 0;
  const ptr = heap.alloc(len);
  memory.copy(ptr, src, len);
  return ptr;
}

/** Returns bytes as the result. */
export function ok(bytes: Uint8Array): u64 {
  return pack(copyOut(bytes.dataStart, <u32>bytes.length), <u32>bytes.length, false);
}

/** Returns a string, as UTF-8, as the result. */
export function okString(text: string): u64 {
  const utf8 = String.UTF8.encode(text);
  return pack(copyOut(changetype<usize>(utf8), <u32>utf8.byteLength), <u32>utf8.byteLength, false);
}

/** Returns the input buffer itself as the result (call instead of takeInput: no copy at all). */
export function okInPlace(ptr: usize, len: u32): u64 {
  return pack(ptr, len, false);
}

function jsonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x22 || c == 0x5c) out += '\\' + String.fromCharCode(c);
    else if (c < 0x20) out += '\\u00' + (c < 16 ? '0' : '') + c.toString(16);
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

/** An error report: the host raises a GuestError with this message and, if given, `code` as its guestCode. */
export function fail(message: string, code: string | null = null): u64 {
  let report = '{"message":' + jsonString(message);
  if (code !== null) report += ',"code":' + jsonString(code);
  report += '}';
  const utf8 = String.UTF8.encode(report);
  return pack(copyOut(changetype<usize>(utf8), <u32>utf8.byteLength), <u32>utf8.byteLength, true);
}

// --- MemoryChannel ---------------------------------------------------------------------------
// Control block of u32 words (see docs/guest-abi.md): magic, version, inbox and outbox capacities,
// inbox head/tail, outbox head/tail, flags; the rings follow the 64-byte header.

const MAGIC: u32 = 0x48435357;
const HEADER: usize = 64;
const IN_CAP: usize = 8, OUT_CAP: usize = 12, IN_HEAD: usize = 16, IN_TAIL: usize = 20, OUT_HEAD: usize = 24, OUT_TAIL: usize = 28, FLAGS: usize = 32;
const WANTS_PUMP: u32 = 1;

let channelBase: usize = 0;

/**
 * Sets up the channel's storage (capacities: powers of two) and returns the control block for
 * `wschan_open` to return: `export function wschan_open(): usize { return openChannel(4096, 4096); }`.
 */
export function openChannel(inCap: u32, outCap: u32): usize {
  if (channelBase != 0) return channelBase;
  assert(inCap >= 16 && outCap >= 16 && (inCap & (inCap - 1)) == 0 && (outCap & (outCap - 1)) == 0);
  const base = heap.alloc(HEADER + inCap + outCap);
  memory.fill(base, 0, HEADER);
  store<u32>(base, MAGIC);
  store<u32>(base + 4, 1);
  store<u32>(base + IN_CAP, inCap);
  store<u32>(base + OUT_CAP, outCap);
  channelBase = base;
  return base;
}

function ringOut(ring: usize, cap: u32, at: u32, dst: usize, n: u32): void {
  const pos = at & (cap - 1);
  const first = min(cap - pos, n);
  memory.copy(dst, ring + pos, first);
  memory.copy(dst + first, ring, n - first);
}

function ringIn(ring: usize, cap: u32, at: u32, src: usize, n: u32): void {
  const pos = at & (cap - 1);
  const first = min(cap - pos, n);
  memory.copy(ring + pos, src, first);
  memory.copy(ring, src + first, n - first);
}

/** Sends a message to the host: 0 when queued, -1 when the outbox is full (retry on a later pump), -2 when it can never fit. */
export function channelSend(data: Uint8Array): i32 {
  const b = channelBase;
  const cap = load<u32>(b + OUT_CAP);
  const len = <u32>data.length;
  if (<u64>len + 4 > <u64>cap) return -2;
  const tail = load<u32>(b + OUT_TAIL);
  const used = tail - load<u32>(b + OUT_HEAD);
  if (cap - used < len + 4) {
    store<u32>(b + FLAGS, load<u32>(b + FLAGS) | WANTS_PUMP);
    return -1;
  }
  const outbox = b + HEADER + load<u32>(b + IN_CAP);
  const frame = memory.data(4);
  store<u32>(frame, len);
  ringIn(outbox, cap, tail, frame, 4);
  ringIn(outbox, cap, tail + 4, data.dataStart, len);
  store<u32>(b + OUT_TAIL, tail + 4 + len);
  return 0;
}

/** The next message from the host, or null when the inbox is empty. */
export function channelReceive(): Uint8Array | null {
  const b = channelBase;
  const head = load<u32>(b + IN_HEAD);
  if (load<u32>(b + IN_TAIL) == head) return null;
  const cap = load<u32>(b + IN_CAP);
  const inbox = b + HEADER;
  const frame = memory.data(4);
  ringOut(inbox, cap, head, frame, 4);
  const len = load<u32>(frame);
  const out = new Uint8Array(len);
  ringOut(inbox, cap, head + 4, out.dataStart, len);
  store<u32>(b + IN_HEAD, head + 4 + len);
  return out;
}
