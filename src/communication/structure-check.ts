/**
 * Shape checks for structured-call payloads, done before anything is decoded. A payload within the
 * size limit can still be costly to decode: 16 MiB of nested one-element arrays is 16 million host
 * objects (seconds of CPU and gigabytes of heap). So nesting is bounded, MessagePack is validated by
 * a scan that allocates nothing, and the scan is charged as host work against the call's deadline.
 */
import { Timeout } from '../errors.ts';
import { HOST_WORK_CHUNK, HostWork } from '../runtime/limits/host-work.ts';

/** Arrays and maps (objects) nested in one another at most, in JSON and MessagePack alike. */
export const MAX_NESTING = 512;

/** Why a payload was refused; the caller turns it into InvalidArguments or AbiViolation. */
export class MalformedPayload extends Error {}

/**
 * The time a call may spend, decoding included: `check` throws Timeout('call') once the call's
 * timeout has passed since `startedAt`. Without a timeout it never throws.
 */
export function callDeadline(callTimeoutMs: number | null): () => void {
  if (callTimeoutMs === null) return () => {};
  const startedAt = performance.now();
  return () => {
    const elapsed = performance.now() - startedAt;
    if (elapsed >= callTimeoutMs) throw new Timeout('call', callTimeoutMs, elapsed);
  };
}

/** Throws MalformedPayload when `text` nests arrays and objects deeper than MAX_NESTING (strings skipped). */
export function checkJsonNesting(text: string, check: () => void): void {
  const work = new HostWork(check);
  let depth = 0;
  let inString = false;
  const n = text.length;
  for (let start = 0; start < n; start += HOST_WORK_CHUNK) {
    work.add(Math.min(HOST_WORK_CHUNK, n - start));
    const end = Math.min(n, start + HOST_WORK_CHUNK);
    for (let i = start; i < end; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (c === 0x5c) i++; // backslash: the next character is escaped, whatever it is
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) {
        inString = true;
      } else if (c === 0x5b || c === 0x7b) {
        if (++depth > MAX_NESTING) throw new MalformedPayload(`it nests arrays and objects more than ${MAX_NESTING} deep`);
      } else if (c === 0x5d || c === 0x7d) {
        depth--;
      }
    }
  }
}

/** JSON.parse of text nested at most MAX_NESTING deep; throws MalformedPayload or JSON.parse's SyntaxError. */
export function parseBoundedJson(text: string, check: () => void = () => {}): unknown {
  checkJsonNesting(text, check);
  return JSON.parse(text) as unknown;
}

/**
 * Checks that `bytes` hold exactly one well-formed MessagePack value nested at most MAX_NESTING deep,
 * without building it: every length must fit in what is left, 0xc1 never occurs, nothing trails.
 * Throws MalformedPayload otherwise.
 */
export function checkMsgpack(bytes: Uint8Array, check: () => void): void {
  const work = new HostWork(check);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  // Values still to read at each open level; the outermost level expects one.
  const pending = [1];
  let pos = 0;
  let nextCharge = 0;
  const need = (k: number): void => {
    if (pos + k > n) throw new MalformedPayload(`it ends inside a value (${k} more bytes needed at offset ${pos})`);
  };
  const open = (items: number): void => {
    if (items === 0) return;
    if (pending.length > MAX_NESTING) throw new MalformedPayload(`it nests arrays and maps more than ${MAX_NESTING} deep`);
    pending.push(items);
  };
  while (pending.length > 0) {
    if (pos >= nextCharge) {
      work.add(HOST_WORK_CHUNK);
      nextCharge = pos + HOST_WORK_CHUNK;
    }
    const top = pending.length - 1;
    if (pending[top] === 0) {
      pending.pop();
      continue;
    }
    pending[top]--;
    need(1);
    const b = bytes[pos++];
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
    if ((b & 0xf0) === 0x80) open(2 * (b & 0x0f));
    else if ((b & 0xf0) === 0x90) open(b & 0x0f);
    else if ((b & 0xe0) === 0xa0) skip(b & 0x1f);
    else {
      switch (b) {
        case 0xc4: need(1); skip(bytes[pos++]); break; // bin 8
        case 0xc5: need(2); pos += 2; skip(view.getUint16(pos - 2)); break;
        case 0xc6: need(4); pos += 4; skip(view.getUint32(pos - 4)); break;
        case 0xc7: need(2); pos += 2; skip(bytes[pos - 2]); break; // ext 8: length, type
        case 0xc8: need(3); pos += 3; skip(view.getUint16(pos - 3)); break;
        case 0xc9: need(5); pos += 5; skip(view.getUint32(pos - 5)); break;
        case 0xca: skip(4); break;
        case 0xcb: skip(8); break;
        case 0xcc: skip(1); break;
        case 0xcd: skip(2); break;
        case 0xce: skip(4); break;
        case 0xcf: skip(8); break;
        case 0xd0: skip(1); break;
        case 0xd1: skip(2); break;
        case 0xd2: skip(4); break;
        case 0xd3: skip(8); break;
        case 0xd4: skip(2); break; // fixext 1: type + 1
        case 0xd5: skip(3); break;
        case 0xd6: skip(5); break;
        case 0xd7: skip(9); break;
        case 0xd8: skip(17); break;
        case 0xd9: need(1); skip(bytes[pos++]); break; // str 8
        case 0xda: need(2); pos += 2; skip(view.getUint16(pos - 2)); break;
        case 0xdb: need(4); pos += 4; skip(view.getUint32(pos - 4)); break;
        case 0xdc: need(2); pos += 2; open(view.getUint16(pos - 2)); break; // array 16
        case 0xdd: need(4); pos += 4; open(view.getUint32(pos - 4)); break;
        case 0xde: need(2); pos += 2; open(2 * view.getUint16(pos - 2)); break; // map 16
        case 0xdf: need(4); pos += 4; open(2 * view.getUint32(pos - 4)); break;
        default: throw new MalformedPayload(`byte 0x${b.toString(16)} at offset ${pos - 1} starts no value`);
      }
    }
  }
  if (pos !== n) throw new MalformedPayload(`${n - pos} bytes follow the value`);

  function skip(k: number): void {
    need(k);
    pos += k;
  }
}
