/**
 * The host side of one call to a `wsdata:` data function (guest ABI v1, docs/guest-abi.md): allocate
 * the input in the guest, call, check the result's pointer and length against the guest's memory,
 * copy it out, and give the buffer back. Every word the guest returns is untrusted; a bad one is an
 * AbiViolation raised before the host reads anything.
 */
import { AbiViolation, GuestError } from '../errors.ts';
import { unpackResult } from './guest-abi.ts';
import { checkPayload } from './payload-limit.ts';
import { parseBoundedJson } from './structure-check.ts';

export interface WsdataGuest {
  readonly memory: WebAssembly.Memory;
  readonly alloc: (size: number) => number;
  readonly free: (ptr: number, size: number) => void;
  /** `io.maxPayloadBytes`, for input, result and error report alike. */
  readonly maxPayloadBytes: number | null;
}

const lenient = new TextDecoder('utf-8');

/** Copies `input` into a fresh guest allocation; ownership passes to the guest with the call. */
export function placeInput(guest: WsdataGuest, name: string, input: Uint8Array): number {
  checkPayload(guest.maxPayloadBytes, input.length, `input of '${name}'`);
  if (input.length === 0) return 0;
  const ptr = guest.alloc(input.length) >>> 0;
  if (ptr === 0) throw new AbiViolation(name, `'wsdata:alloc' returned 0 for ${input.length} bytes (the guest is out of memory?)`);
  const buffer = guest.memory.buffer;
  if (ptr + input.length > buffer.byteLength) {
    throw new AbiViolation(name, `'wsdata:alloc' returned [${ptr}, ${ptr}+${input.length}), outside the guest's ${buffer.byteLength}-byte memory`);
  }
  new Uint8Array(buffer, ptr, input.length).set(input);
  return ptr;
}

/** Reads the result a data function returned, frees it, and throws the guest's error report as a GuestError. */
export function takeResult(guest: WsdataGuest, name: string, raw: unknown): Uint8Array {
  if (typeof raw !== 'bigint') throw new AbiViolation(name, `a data function must return an i64, got ${typeof raw}`);
  const { ptr, len, isError } = unpackResult(raw);
  checkPayload(guest.maxPayloadBytes, len, `${isError ? 'error report' : 'result'} of '${name}'`);
  const buffer = guest.memory.buffer;
  if (ptr + len > buffer.byteLength || (ptr === 0 && len > 0)) {
    throw new AbiViolation(name, `it returned [${ptr}, ${ptr}+${len}) as its ${isError ? 'error report' : 'result'}, outside the guest's ${buffer.byteLength}-byte memory`);
  }
  const bytes = new Uint8Array(buffer, ptr, len).slice();
  if (ptr !== 0) guest.free(ptr, len);
  if (isError) throw guestError(name, bytes);
  return bytes;
}

export function callWsdata(guest: WsdataGuest, name: string, fn: (ptr: number, len: number) => unknown, input: Uint8Array): Uint8Array {
  const ptr = placeInput(guest, name, input);
  return takeResult(guest, name, fn(ptr, input.length));
}

/** The same call through an export that may suspend in an async host function. */
export async function callWsdataAsync(guest: WsdataGuest, name: string, fn: (ptr: number, len: number) => Promise<unknown>, input: Uint8Array): Promise<Uint8Array> {
  const ptr = placeInput(guest, name, input);
  return takeResult(guest, name, await fn(ptr, input.length));
}

/**
 * An error report is UTF-8 text. When it is a JSON object with a string `message`, its `code` and
 * `data` travel too (what the SDKs write); anything else is the message itself.
 */
export function guestError(name: string, report: Uint8Array): GuestError {
  const text = lenient.decode(report);
  if (text.startsWith('{')) {
    try {
      const parsed = parseBoundedJson(text);
      if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
        const { message, code, data } = parsed as { message: string; code?: unknown; data?: unknown };
        const guestCode = typeof code === 'string' || typeof code === 'number' ? code : undefined;
        return new GuestError(name, message, { guestCode, data });
      }
    } catch {
      // not JSON after all: the text is the message
    }
  }
  return new GuestError(name, text || '(no message)');
}
