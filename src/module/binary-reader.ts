/**
 * Bounds-checked cursor over a WebAssembly binary. Every failure is an `InvalidModule` carrying
 * the absolute byte offset, so callers can point at the faulty byte of the original input even
 * when they read through a window (`end` smaller than the buffer) such as one section.
 */
import { InvalidModule } from '../errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class BinaryReader {
  readonly buf: Uint8Array;
  /** Absolute offset of the next byte to read. */
  pos: number;
  /** Absolute offset one past the last readable byte; narrowed to read one section at a time. */
  end: number;
  private view: DataView | undefined;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  eof(): boolean {
    return this.pos >= this.end;
  }

  fail(message: string, offset: number = this.pos): never {
    throw new InvalidModule(`${message} (at offset ${offset})`, { offset });
  }

  u8(): number {
    if (this.pos >= this.end) this.fail('unexpected end of input');
    return this.buf[this.pos++];
  }

  peek(): number {
    if (this.pos >= this.end) this.fail('unexpected end of input');
    return this.buf[this.pos];
  }

  u32(): number {
    const pos = this.pos;
    if (pos < this.end) {
      const b = this.buf[pos];
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    return this.u32Slow();
  }

  private u32Slow(): number {
    const start = this.pos;
    let result = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) this.fail('unexpected end of input in LEB128', start);
      const b = this.buf[this.pos++];
      if (i === 4) {
        // The fifth byte carries bits 28..31 only; anything above would overflow 32 bits.
        if (b & 0xf0) this.fail('u32 LEB128 out of range', start);
        return result + b * 0x10000000;
      }
      result |= (b & 0x7f) << (7 * i);
      if (b < 0x80) return result >>> 0;
    }
    return this.fail('u32 LEB128 too long', start);
  }

  /**
   * A u32 used as the length of a vector whose items take at least `minItemBytes` each: refusing
   * counts the remaining bytes cannot hold keeps a forged count from driving a huge allocation.
   */
  count(minItemBytes = 1): number {
    const at = this.pos;
    const n = this.u32();
    if (n * minItemBytes > this.end - this.pos) this.fail(`vector length ${n} exceeds the remaining ${this.end - this.pos} bytes`, at);
    return n;
  }

  /** Unsigned 64-bit LEB128 as a number (memory64 limits); precision above 2^53 is irrelevant there. */
  u64(): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('unexpected end of input in LEB128', start);
      const b = this.buf[this.pos++];
      if (i === 9 && b & 0xfe) this.fail('u64 LEB128 out of range', start);
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    return this.fail('u64 LEB128 too long', start);
  }

  s32(): number {
    const start = this.pos;
    let result = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) this.fail('unexpected end of input in LEB128', start);
      const b = this.buf[this.pos++];
      if (i === 4) {
        // Bits 3..6 of the last byte must all repeat the sign bit (bit 31).
        const ext = b & 0x78;
        if (b & 0x80 || (ext !== 0 && ext !== 0x78)) this.fail('s32 LEB128 out of range', start);
        return result | (b << 28);
      }
      result |= (b & 0x7f) << (7 * i);
      if (b < 0x80) {
        const shift = 7 * (i + 1);
        return b & 0x40 ? result | (-1 << shift) : result;
      }
    }
    return this.fail('s32 LEB128 too long', start);
  }

  /** Signed 33-bit LEB128 (block types, heap types); fits a double exactly. */
  s33(): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) this.fail('unexpected end of input in LEB128', start);
      const b = this.buf[this.pos++];
      if (i === 4) {
        const ext = b & 0x70;
        if (b & 0x80 || (ext !== 0 && ext !== 0x70)) this.fail('s33 LEB128 out of range', start);
        result += (b & 0x7f) * scale;
        return b & 0x40 ? result - scale * 128 : result;
      }
      result += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) return b & 0x40 ? result - scale : result;
    }
    return this.fail('s33 LEB128 too long', start);
  }

  s64(): bigint {
    const start = this.pos;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('unexpected end of input in LEB128', start);
      const b = this.buf[this.pos++];
      if (i === 9) {
        // Only bit 63 remains; the rest of the byte must repeat it.
        if (b !== 0 && b !== 0x7f) this.fail('s64 LEB128 out of range', start);
        result |= BigInt(b & 1) << 63n;
        return BigInt.asIntN(64, result);
      }
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (b < 0x80) return b & 0x40 ? result - (1n << shift) : result;
    }
    return this.fail('s64 LEB128 too long', start);
  }

  /** Skips a LEB128 of at most `maxBytes` bytes whose value nobody needs (the engine validates it later). */
  skipLeb(maxBytes: number): void {
    const start = this.pos;
    const buf = this.buf;
    const limit = Math.min(this.end, start + maxBytes);
    let p = start;
    while (p < limit) {
      if (buf[p++] < 0x80) {
        this.pos = p;
        return;
      }
    }
    if (limit === this.end && limit < start + maxBytes) this.fail('unexpected end of input in LEB128', start);
    this.fail('LEB128 too long', start);
  }

  f32(): number {
    if (this.end - this.pos < 4) this.fail('unexpected end of input in f32');
    const v = this.dataView().getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(): number {
    if (this.end - this.pos < 8) this.fail('unexpected end of input in f64');
    const v = this.dataView().getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Zero-copy view of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    if (n > this.end - this.pos) this.fail(`${n} bytes requested but only ${this.end - this.pos} remain`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    if (n > this.end - this.pos) this.fail(`${n} bytes requested but only ${this.end - this.pos} remain`);
    this.pos += n;
  }

  /** A length-prefixed UTF-8 name; ill-formed UTF-8 is a malformed module, as the spec says. */
  name(): string {
    const at = this.pos;
    const len = this.u32();
    if (len > this.end - this.pos) this.fail(`name of ${len} bytes exceeds the remaining ${this.end - this.pos} bytes`, at);
    const start = this.pos;
    const stop = start + len;
    const buf = this.buf;
    this.pos = stop;
    // Most names are short ASCII identifiers; skipping TextDecoder for them matters on modules with many imports.
    if (len <= 64) {
      let ascii = true;
      for (let i = start; i < stop; i++) {
        if (buf[i] >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return String.fromCharCode.apply(null, buf.subarray(start, stop) as unknown as number[]);
    }
    try {
      return utf8.decode(buf.subarray(start, stop));
    } catch {
      return this.fail('name is not valid UTF-8', start);
    }
  }

  private dataView(): DataView {
    if (this.view === undefined) this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.view;
  }
}
