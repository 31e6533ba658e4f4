/**
 * Growable output buffer for re-encoding binaries. Sizes that are only known after their content
 * has been written are reserved as fixed-width (5-byte, padded) LEB128 fields and patched in
 * place, which the binary format allows and which keeps rewriting to a single pass.
 */

export const PADDED_LEB_BYTES = 5;

export class ByteWriter {
  buf: Uint8Array;
  len = 0;
  /** Told of every verbatim copy (output offset, source range), to map output offsets back to the source. */
  onCopy: ((at: number, start: number, end: number) => void) | undefined = undefined;

  constructor(capacity = 1024) {
    this.buf = new Uint8Array(Math.max(capacity, 16));
  }

  private ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  u32(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    let n = v >>> 0;
    while (n >= 0x80) {
      buf[this.len++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[this.len++] = n;
  }

  /** Unsigned LEB128 of a non-negative integer up to 2^53 (memory64 limits). */
  u64(v: number): void {
    this.ensure(10);
    let n = v;
    while (n >= 0x80) {
      this.buf[this.len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.len++] = n;
  }

  s32(v: number): void {
    this.ensure(5);
    let n = v | 0;
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  s64(v: bigint): void {
    this.ensure(10);
    let n = BigInt.asIntN(64, v);
    for (;;) {
      const b = Number(n & 0x7fn);
      n >>= 7n;
      if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  /** Copies `src[start, end)`. */
  copy(src: Uint8Array, start: number, end: number): void {
    // Told even of an empty range: it still says which source position the output has reached.
    this.onCopy?.(this.len, start, end);
    const n = end - start;
    if (n <= 0) return;
    this.ensure(n);
    const buf = this.buf;
    // Short runs between rewritten instructions are common; a loop beats creating a subarray view.
    if (n < 24) {
      let o = this.len;
      for (let i = start; i < end; i++) buf[o++] = src[i];
    } else {
      buf.set(src.subarray(start, end), this.len);
    }
    this.len += n;
  }

  bytes(src: Uint8Array | readonly number[]): void {
    this.ensure(src.length);
    for (let i = 0; i < src.length; i++) this.buf[this.len + i] = src[i];
    this.len += src.length;
  }

  name(s: string): void {
    const encoded = new TextEncoder().encode(s);
    this.u32(encoded.length);
    this.bytes(encoded);
  }

  /** Writes a 5-byte placeholder and returns its position for `patchU32`/`patchS64`. */
  reserve(): number {
    this.ensure(PADDED_LEB_BYTES);
    const at = this.len;
    this.len += PADDED_LEB_BYTES;
    return at;
  }

  /** Fills a reserved field with `v` (< 2^32) as a padded u32 LEB128. */
  patchU32(at: number, v: number): void {
    const buf = this.buf;
    buf[at] = (v & 0x7f) | 0x80;
    buf[at + 1] = ((v >>> 7) & 0x7f) | 0x80;
    buf[at + 2] = ((v >>> 14) & 0x7f) | 0x80;
    buf[at + 3] = ((v >>> 21) & 0x7f) | 0x80;
    buf[at + 4] = (v >>> 28) & 0x0f;
  }

  /** Fills a reserved field with a non-negative `v` < 2^34 as a padded signed LEB128 (i64.const immediates). */
  patchS64(at: number, v: number): void {
    const buf = this.buf;
    buf[at] = (v & 0x7f) | 0x80;
    buf[at + 1] = ((v >>> 7) & 0x7f) | 0x80;
    buf[at + 2] = ((v >>> 14) & 0x7f) | 0x80;
    buf[at + 3] = ((v >>> 21) & 0x7f) | 0x80;
    // Bit 6 of the last byte is the sign and must stay clear.
    buf[at + 4] = Math.floor(v / 0x10000000) & 0x3f;
  }

  /** Size of the content written since a field reserved at `at`. */
  sinceReserved(at: number): number {
    return this.len - at - PADDED_LEB_BYTES;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
