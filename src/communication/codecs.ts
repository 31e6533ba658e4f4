/**
 * The encodings structured calls carry: JSON text and MessagePack. What the caller passes is checked
 * before it reaches the guest (InvalidArguments); what the guest returns is checked before it reaches
 * the caller (AbiViolation): neither side ever sees the other's malformed bytes. Checking is bounded in
 * nesting and charged against the call's deadline (structure-check.ts): `check` is that deadline.
 */
import { createRequire } from 'node:module';
import { AbiViolation, InvalidArguments } from '../errors.ts';
import { checkMsgpack, MalformedPayload, parseBoundedJson } from './structure-check.ts';

type MsgPack = typeof import('@msgpack/msgpack');
let msgpack: MsgPack | undefined;
// Loaded on first use, so that processes that never make a MessagePack call do not pay for it.
function loadMsgpack(): MsgPack {
  return (msgpack ??= createRequire(import.meta.url)('@msgpack/msgpack') as MsgPack);
}
const msgpackDecode = (bytes: Uint8Array): unknown => loadMsgpack().decode(bytes);
const msgpackEncode = (value: unknown): Uint8Array => loadMsgpack().encode(value);

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * UTF-8 of a string. TextEncoder.encode costs ~0.6 µs even for a dozen characters, more than a whole
 * call; short ASCII is copied by hand and the rest goes through Buffer's native encoder.
 */
export function utf8Bytes(text: string): Uint8Array {
  const n = text.length;
  if (n <= 64) {
    const out = new Uint8Array(n);
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) break;
      out[i] = c;
    }
    if (i === n) return out;
  }
  const b = Buffer.from(text, 'utf8');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** UTF-8 of a JSON text, after checking that it is one. */
export function jsonTextToBytes(name: string, json: string, check: () => void = noDeadline): Uint8Array {
  if (typeof json !== 'string') throw new InvalidArguments(`callFunctionJson('${name}') expects the input as a JSON string, got ${typeof json}`);
  try {
    parseBoundedJson(json, check);
  } catch (err) {
    if (!isMalformed(err)) throw err;
    throw new InvalidArguments(`the input of '${name}' is not valid JSON: ${(err as Error).message}`);
  }
  return utf8Bytes(json);
}

/** The JSON text a guest returned, after checking that it is UTF-8 and JSON. Empty output is `null`. */
export function bytesToJsonText(name: string, bytes: Uint8Array, check: () => void = noDeadline): string {
  if (bytes.length === 0) return 'null';
  const text = utf8(name, bytes);
  try {
    parseBoundedJson(text, check);
  } catch (err) {
    if (!isMalformed(err)) throw err;
    throw new AbiViolation(name, `its result is not valid JSON: ${(err as Error).message}`);
  }
  return text;
}

const noDeadline = (): void => {};

/** A payload's own fault, as opposed to the deadline passing while it was checked. */
function isMalformed(err: unknown): boolean {
  return err instanceof MalformedPayload || err instanceof SyntaxError;
}

/** Arguments of `callFunction` on a data function: a JSON array. */
export function argumentsToBytes(name: string, args: readonly unknown[]): Uint8Array {
  let text: string;
  try {
    text = JSON.stringify(args);
  } catch (err) {
    throw new InvalidArguments(`the arguments of '${name}' cannot be encoded as JSON: ${(err as Error).message}`);
  }
  return utf8Bytes(text);
}

/** The value a data function returned to `callFunction`; empty output is `undefined`. */
export function bytesToValue(name: string, bytes: Uint8Array, check: () => void = noDeadline): unknown {
  if (bytes.length === 0) return undefined;
  const text = utf8(name, bytes);
  try {
    return parseBoundedJson(text, check);
  } catch (err) {
    if (!isMalformed(err)) throw err;
    throw new AbiViolation(name, `its result is not valid JSON: ${(err as Error).message}`);
  }
}

function utf8(name: string, bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new AbiViolation(name, 'its result is not valid UTF-8');
  }
}

/** Checks that `bytes` hold exactly one MessagePack value before they go to the guest. */
export function checkMsgpackInput(name: string, bytes: Uint8Array, check: () => void = noDeadline): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArguments(`callFunctionMsgpack('${name}') expects a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  try {
    checkMsgpack(bytes, check);
  } catch (err) {
    if (!isMalformed(err)) throw err;
    throw new InvalidArguments(`the input of '${name}' is not valid MessagePack: ${(err as Error).message}`);
  }
  return bytes;
}

/** The MessagePack a guest returned, checked; empty output is nil, as empty JSON output is `null`. */
export function checkMsgpackOutput(name: string, bytes: Uint8Array, check: () => void = noDeadline): Uint8Array {
  if (bytes.length === 0) return Uint8Array.of(0xc0);
  try {
    checkMsgpack(bytes, check);
  } catch (err) {
    if (!isMalformed(err)) throw err;
    throw new AbiViolation(name, `its result is not valid MessagePack: ${(err as Error).message}`);
  }
  return bytes;
}

/** MessagePack helpers for callers, so that they need not depend on the library themselves. */
export function encodeMsgpack(value: unknown): Uint8Array {
  try {
    return msgpackEncode(value);
  } catch (err) {
    throw new InvalidArguments(`value cannot be encoded as MessagePack: ${(err as Error).message}`);
  }
}

/**
 * Decodes one MessagePack value; malformed bytes, trailing bytes or a shape too deep or too large to decode
 * safely are an `InvalidArguments`.
 */
export function decodeMsgpack(bytes: Uint8Array): unknown {
  try {
    // The same shape check as for calls first: the decoder builds whatever the bytes describe.
    checkMsgpack(bytes, noDeadline);
    return msgpackDecode(bytes);
  } catch (err) {
    throw new InvalidArguments(`bytes are not valid MessagePack: ${(err as Error).message}`);
  }
}
