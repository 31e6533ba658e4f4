/**
 * Our Canonical ABI (the direct-call path: abi/lift.ts, abi/lower.ts) against jco's generated
 * bindings, on random WIT types and values from a seeded PRNG, in both directions:
 *
 *  - lifting: a memory image laid out for each type, often malformed (discriminants out of range,
 *    invalid UTF-8, code points that are not scalar values, pointers past memory), is lifted through
 *    both paths: the values must be identical, or both must trap;
 *  - lowering: a random host value is passed through both paths into a guest that records its flat
 *    arguments, and the recorded arguments and every byte the lowering wrote to guest memory must be
 *    identical.
 *
 * The guest is generated with the types: `get-N` returns a `tuple<TN, u8>` read from a fixed address
 * (so the result is always loaded from memory), `put-N` stores its flat parameters, and `set`,
 * `dump` and `reset` let the test write, read and reset memory.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { componentEmbed, componentNew, parse } from '@bytecodealliance/jco-transpile/wasm-tools';
import { alignment, cases, discriminantSize, flatten, MAX_FLAT_PARAMS, payloadOffset, size } from '../../src/component/abi/layout.ts';
import { primitive, type PrimitiveKind, type ValType } from '../../src/component/wit/wit-types.ts';
import { InvalidArguments, Trap, type ComponentInstance } from '../../src/index.ts';
import { runtime } from './helpers.ts';
import { prng } from '../helpers/prng.ts';

/** Another seed explores other types: ABI_DIFF_SEED=n. */
const SEED = Number(process.env.ABI_DIFF_SEED ?? 0x5eed_2026);
const TYPES = 14;
const SAMPLES = 40;
const DATA = 4096;
const DATA_END = 60 * 1024;
const RECORD = 1024;
const HEAP = 65536;
const HEAP_DUMP = 8192;

const next = prng(SEED);
const int = (n: number) => Math.floor(next() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
const chance = (p: number) => next() < p;
const names = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + i));

const SCALARS: PrimitiveKind[] = ['bool', 's8', 'u8', 's16', 'u16', 's32', 'u32', 's64', 'u64', 'f32', 'f64', 'char', 'string'];

function randomType(depth: number, insideOption = false): ValType {
  if (depth >= 3 || chance(0.35)) return primitive(pick(SCALARS));
  switch (int(9)) {
    case 0: return { kind: 'list', element: randomType(depth + 1), length: undefined };
    case 1: return insideOption ? randomType(depth) : { kind: 'option', type: randomType(depth + 1, true) };
    case 2: return { kind: 'result', ok: chance(0.8) ? randomType(depth + 1) : undefined, err: chance(0.8) ? randomType(depth + 1) : undefined };
    case 3: return { kind: 'tuple', types: Array.from({ length: 1 + int(3) }, () => randomType(depth + 1)) };
    case 4: return { kind: 'record', fields: names(1 + int(4)).map((name) => ({ name, type: randomType(depth + 1) })) };
    case 5: return { kind: 'variant', cases: names(1 + int(4)).map((name) => ({ name, type: chance(0.7) ? randomType(depth + 1) : undefined })) };
    case 6: return { kind: 'enum', names: names(1 + int(5)) };
    case 7: return { kind: 'flags', names: names(1 + int(20)) };
    default: return { kind: 'list', element: primitive(pick(['u8', 'u32', 's64', 'f32'] as const)), length: undefined };
  }
}

/** WIT text for `t`, defining the named types it needs in `defs`. */
function witType(t: ValType, defs: string[]): string {
  switch (t.kind) {
    case 'list': return `list<${witType(t.element, defs)}>`;
    case 'option': return `option<${witType(t.type, defs)}>`;
    case 'result': return t.ok || t.err ? `result<${t.ok ? witType(t.ok, defs) : '_'}${t.err ? `, ${witType(t.err, defs)}` : ''}>` : 'result';
    case 'tuple': return `tuple<${t.types.map((x) => witType(x, defs)).join(', ')}>`;
    case 'record': case 'variant': case 'enum': case 'flags': {
      const name = `t${defs.length}`;
      defs.push('');
      const body = t.kind === 'record' ? t.fields.map((f) => `${f.name}: ${witType(f.type, defs)}`)
        : t.kind === 'variant' ? t.cases.map((c) => (c.type ? `${c.name}(${witType(c.type, defs)})` : c.name))
        : t.names;
      defs[Number(name.slice(1))] = `  ${t.kind} ${name} { ${body.join(', ')} }`;
      return name;
    }
    default: return t.kind;
  }
}

const STORE: Record<string, string> = { i32: 'i32.store', i64: 'i64.store', f32: 'f32.store', f64: 'f64.store' };

function coreModule(types: readonly ValType[]): string {
  const fns = types.map((t, n) => {
    const flat = flatten(t);
    const params = flat.length > MAX_FLAT_PARAMS ? ['i32'] : flat;
    const stores = params.map((f, i) => `(${STORE[f]} (i32.const ${RECORD + 8 * i}) (local.get ${i}))`).join(' ');
    return `(func (export "${API}#get-${n}") (result i32) (i32.const ${DATA}))
  (func (export "${API}#put-${n}") ${params.length ? `(param ${params.join(' ')})` : ''} ${stores})`;
  });
  return `(module
  (memory (export "memory") 4)
  (global $heap (mut i32) (i32.const ${HEAP}))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1))) (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (if (i32.gt_u (global.get $heap) (i32.const ${4 * 65536})) (then unreachable))
    (local.get $p))
  (func (export "${API}#set") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "${API}#dump") (param i32 i32) (result i32)
    (i32.store (i32.const 512) (local.get 0)) (i32.store (i32.const 516) (local.get 1)) (i32.const 512))
  (func (export "${API}#reset")
    (memory.fill (i32.const ${HEAP}) (i32.const 0) (i32.const ${3 * 65536}))
    (memory.fill (i32.const ${RECORD}) (i32.const 0) (i32.const 256))
    (global.set $heap (i32.const ${HEAP})))
  ${fns.join('\n  ')})`;
}

const API = 'test:diff/api';

function world(types: readonly ValType[]): string {
  const defs: string[] = [];
  const fns = types.map((t, n) => {
    const w = witType(t, defs);
    return `  get-${n}: func() -> tuple<${w}, u8>;\n  put-${n}: func(v: ${w});`;
  });
  return `package test:diff;

interface api {
${defs.join('\n')}
  set: func(offset: u32, bytes: list<u8>);
  dump: func(offset: u32, len: u32) -> list<u8>;
  reset: func();
${fns.join('\n')}
}

world diff {
  export api;
}
`;
}

// ---- host values in jco's representation -------------------------------------------------------

const TYPED: Record<string, (n: number) => ArrayBufferView> = {
  u8: (n) => Uint8Array.from({ length: n }, () => int(256)),
  u32: (n) => Uint32Array.from({ length: n }, () => int(2 ** 32)),
  s64: (n) => BigInt64Array.from({ length: n }, () => BigInt.asIntN(64, BigInt(int(2 ** 32)) << 32n | BigInt(int(2 ** 32)))),
  f32: (n) => Float32Array.from({ length: n }, () => Math.fround((next() - 0.5) * 1e6)),
};

function randomChar(): string {
  const r = next();
  if (r < 0.5) return String.fromCharCode(0x20 + int(0x5f));
  if (r < 0.7) return String.fromCodePoint(0xa0 + int(0x700));
  if (r < 0.85) return String.fromCodePoint(0xe000 + int(0x1000));
  return String.fromCodePoint(0x10000 + int(0xfffff));
}

function randomValue(t: ValType): unknown {
  switch (t.kind) {
    case 'bool': return chance(0.5);
    case 's8': return int(256) - 128;
    case 'u8': return int(256);
    case 's16': return int(65536) - 32768;
    case 'u16': return int(65536);
    case 's32': return int(2 ** 32) - 2 ** 31;
    case 'u32': return int(2 ** 32);
    case 's64': return BigInt.asIntN(64, BigInt(int(2 ** 32)) << 32n | BigInt(int(2 ** 32)));
    case 'u64': return BigInt(int(2 ** 32)) << 32n | BigInt(int(2 ** 32));
    case 'f32': return Math.fround((next() - 0.5) * 1e4);
    case 'f64': return (next() - 0.5) * 1e12;
    case 'char': return randomChar();
    // Never empty: for an empty string or list jco passes pointer 1 without calling realloc, while
    // we call realloc for zero bytes as the Canonical ABI does; both are valid, and differ here only.
    case 'string': return Array.from({ length: 1 + int(11) }, randomChar).join('');
    case 'list': {
      const n = 1 + int(3);
      const typed = TYPED[t.element.kind];
      return typed ? typed(n) : Array.from({ length: n }, () => randomValue(t.element));
    }
    case 'option': return chance(0.4) ? undefined : randomValue(t.type);
    case 'result': {
      const ok = chance(0.5);
      const payload = ok ? t.ok : t.err;
      return payload ? { tag: ok ? 'ok' : 'err', val: randomValue(payload) } : { tag: ok ? 'ok' : 'err', val: undefined };
    }
    case 'tuple': return t.types.map(randomValue);
    case 'record': return Object.fromEntries(t.fields.map((f) => [f.name, randomValue(f.type)]));
    case 'variant': {
      const c = pick(t.cases);
      return c.type ? { tag: c.name, val: randomValue(c.type) } : { tag: c.name };
    }
    case 'enum': return pick(t.names);
    case 'flags': return Object.fromEntries(t.names.map((n) => [n, chance(0.5)]));
    default: throw new Error(`no values for ${t.kind}`);
  }
}

// ---- guest memory images, often malformed ------------------------------------------------------

class Image {
  readonly bytes = new Uint8Array(DATA_END - DATA);
  readonly view = new DataView(this.bytes.buffer);
  private top = 0;
  /** An address (absolute, in guest memory) of `n` fresh bytes aligned to `align`. */
  alloc(n: number, align: number): number {
    this.top = Math.ceil(this.top / align) * align;
    const at = this.top;
    this.top += n;
    if (this.top > this.bytes.length) throw new RangeError('image full');
    return DATA + at;
  }
  at(addr: number): number {
    return addr - DATA;
  }
}

const BAD = 0.06;

function randomUtf8(): Uint8Array {
  const bytes = Buffer.from(Array.from({ length: int(10) }, randomChar).join(''));
  if (!chance(BAD * 3) || bytes.length === 0) return bytes;
  const bad = Uint8Array.from(bytes);
  const kind = int(4);
  if (kind === 0) bad[int(bad.length)] = 0xff; // never valid
  else if (kind === 1) bad[bad.length - 1] = 0xc3; // truncated sequence
  else if (kind === 2) return Buffer.concat([bad, Buffer.from([0xed, 0xa0, 0x80])]); // an encoded surrogate
  else return Buffer.concat([bad, Buffer.from([0xc0, 0x80])]); // overlong
  return bad;
}

/** Writes a value of type `t` at `addr` in `img`, as the guest would, sometimes wrongly. */
function writeValue(t: ValType, addr: number, img: Image): void {
  const v = img.view;
  const o = img.at(addr);
  switch (t.kind) {
    case 'bool': v.setUint8(o, chance(BAD) ? 2 + int(200) : int(2)); return;
    case 's8': case 'u8': v.setUint8(o, int(256)); return;
    case 's16': case 'u16': v.setUint16(o, int(65536), true); return;
    case 's32': case 'u32': v.setUint32(o, int(2 ** 32), true); return;
    case 's64': case 'u64': v.setUint32(o, int(2 ** 32), true); v.setUint32(o + 4, int(2 ** 32), true); return;
    case 'f32': v.setFloat32(o, (next() - 0.5) * 1e4, true); return;
    case 'f64': v.setFloat64(o, (next() - 0.5) * 1e9, true); return;
    case 'char': v.setUint32(o, chance(BAD) ? pick([0xd800, 0xdfff, 0x110000, 0xffffffff]) : randomChar().codePointAt(0)!, true); return;
    case 'string': {
      const s = randomUtf8();
      const p = img.alloc(s.length, 1);
      img.bytes.set(s, img.at(p));
      v.setUint32(o, chance(BAD) ? pick([0xffff_ff00, 4 * 65536 - 2]) : p, true);
      v.setUint32(o + 4, chance(BAD / 2) ? 0x7fff_ffff : s.length, true);
      return;
    }
    case 'list': {
      const n = int(4);
      const el = size(t.element);
      const p = img.alloc(n * el, alignment(t.element));
      for (let i = 0; i < n; i++) writeValue(t.element, p + i * el, img);
      v.setUint32(o, chance(BAD) ? 0xffff_fff0 : p, true);
      v.setUint32(o + 4, n, true);
      return;
    }
    case 'record': case 'tuple': {
      const types = t.kind === 'record' ? t.fields.map((f) => f.type) : t.types;
      let off = 0;
      for (const x of types) {
        off = Math.ceil(off / alignment(x)) * alignment(x);
        writeValue(x, addr + off, img);
        off += size(x);
      }
      return;
    }
    case 'flags': {
      const bytes = size(t);
      for (let i = 0; i < bytes; i++) v.setUint8(o + i, int(256));
      if (!chance(BAD)) {
        // Bits past the last flag clear, as a well-behaved guest leaves them.
        const extra = bytes * 8 - t.names.length;
        if (extra > 0 && bytes <= 4) {
          const mask = 2 ** t.names.length - 1;
          const w = bytes === 1 ? v.getUint8(o) : bytes === 2 ? v.getUint16(o, true) : v.getUint32(o, true);
          const clean = w & mask;
          if (bytes === 1) v.setUint8(o, clean);
          else if (bytes === 2) v.setUint16(o, clean, true);
          else v.setUint32(o, clean >>> 0, true);
        }
      }
      return;
    }
    case 'variant': case 'option': case 'result': case 'enum': {
      const cs = cases(t);
      const index = chance(BAD) ? cs.length + int(3) : int(cs.length);
      const ds = discriminantSize(cs.length);
      if (ds === 1) v.setUint8(o, index);
      else if (ds === 2) v.setUint16(o, index, true);
      else v.setUint32(o, index, true);
      const payload = cs[index];
      if (payload) writeValue(payload, addr + payloadOffset(t), img);
      return;
    }
    default: throw new Error(`no layout for ${t.kind}`);
  }
}

// ---- the two paths -----------------------------------------------------------------------------

type Outcome = { value: unknown } | { error: unknown };

async function attempt(f: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { value: await f() };
  } catch (error) {
    return { error };
  }
}

const types = Array.from({ length: TYPES }, () => randomType(0));
/** One plain string as well, for the cases below that need one. */
const STRING = types.push(primitive('string')) - 1;

describe(`canonical ABI: ours against jco's bindings on ${TYPES} random types (seed ${SEED})`, async () => {
  const wat = coreModule(types);
  const component = await componentNew(await componentEmbed({ binary: await parse(wat), witSource: world(types), world: 'diff' }), []);
  const rt = await runtime({}, {}, { cacheDir: false });
  const loaded = await rt.createComponentModule(component);
  const jco = await rt.instantiate(loaded, { directCalls: false, reinstantiateOnTrap: true });
  const ours = await rt.instantiate(loaded, { reinstantiateOnTrap: true });

  const dump = async (inst: ComponentInstance, offset: number, len: number) => Buffer.from(await inst.call(`${API}#dump`, [offset, len]) as Uint8Array);

  test('lifting a guest memory image gives the same value, or traps on both paths', async () => {
    let compared = 0;
    let trapped = 0;
    let invalidUtf8 = 0;
    let jcoClamped = 0;
    let jcoStrictBool = 0;
    for (let n = 0; n < types.length; n++) {
      for (let s = 0; s < SAMPLES; s++) {
        const img = new Image();
        const at = img.alloc(size(types[n]) + 8, 8);
        assert.equal(at, DATA);
        writeValue({ kind: 'tuple', types: [types[n], primitive('u8')] }, at, img);
        const outcomes: Outcome[] = [];
        for (const inst of [jco, ours]) {
          await inst.call(`${API}#reset`, []);
          await inst.call(`${API}#set`, [DATA, img.bytes]);
          outcomes.push(await attempt(() => inst.call(`${API}#get-${n}`, [])));
        }
        const [a, b] = outcomes;
        const where = `get-${n} (${witType(types[n], [])}), sample ${s}`;
        if ('value' in a && 'error' in b && b.error instanceof Trap && /outside linear memory/.test(b.error.message)) {
          // jco reads a numeric list with ArrayBuffer.slice, which clamps a range past the end of
          // memory instead of trapping: the guest gets a shorter (often empty) typed array. The
          // Canonical ABI traps, and so do we.
          jcoClamped++;
          continue;
        }
        if ('error' in a && 'value' in b && /invalid variant discriminant for bool/.test(String(a.error))) {
          // A bool stored as 2..255: the Canonical ABI lifts any non-zero byte as true (as we do);
          // jco's bindings trap instead.
          jcoStrictBool++;
          continue;
        }
        if ('error' in a || 'error' in b) {
          assert.ok('error' in a && 'error' in b, `${where}: one path trapped and the other did not: jco ${JSON.stringify(a, replacer)}, ours ${JSON.stringify(b, replacer)}`);
          assert.ok(a.error instanceof Trap && b.error instanceof Trap, `${where}: both trap as Trap: ${String(a.error)} / ${String(b.error)}`);
          if (b.error.kind === 'invalid-conversion' && /UTF-8/.test(b.error.message)) {
            invalidUtf8++;
            assert.equal(a.error.kind, 'invalid-conversion', `${where}: jco's bindings trap on invalid UTF-8 as invalid-conversion too: ${a.error.message}`);
          }
          trapped++;
        } else {
          assert.deepStrictEqual(b.value, a.value, where);
          compared++;
        }
      }
    }
    assert.ok(compared > TYPES * SAMPLES * 0.4, `${compared} values compared`);
    assert.ok(trapped > 10, `${trapped} malformed images trapped on both paths`);
    assert.ok(invalidUtf8 > 0, 'invalid UTF-8 came up and trapped');
  });

  test('lowering a host value writes the same flat arguments and the same memory', async () => {
    let compared = 0;
    for (let n = 0; n < types.length; n++) {
      for (let s = 0; s < SAMPLES; s++) {
        const value = randomValue(types[n]);
        const seen: Buffer[][] = [];
        for (const inst of [jco, ours]) {
          await inst.call(`${API}#reset`, []);
          await inst.call(`${API}#put-${n}`, [value]);
          seen.push([await dump(inst, RECORD, 128), await dump(inst, HEAP, HEAP_DUMP)]);
        }
        const what = `put-${n} (${witType(types[n], [])}) sample ${s} of ${JSON.stringify(value, replacer)}`;
        assert.deepStrictEqual(signExtendedF32(seen[1][0], seen[0][0]), seen[0][0], `${what}: flat arguments`);
        assert.deepStrictEqual(seen[1][1], seen[0][1], `${what}: memory written`);
        compared++;
      }
    }
    assert.equal(compared, types.length * SAMPLES);
  });

  test('a host string with a lone surrogate is InvalidArguments on both paths; a leading U+FEFF survives both ways', async () => {
    for (const inst of [jco, ours]) {
      await assert.rejects(inst.call(`${API}#put-${STRING}`, ['ok\uD800']), InvalidArguments);
      await assert.rejects(inst.call(`${API}#put-${STRING}`, ['\uDC00 alone']), InvalidArguments);
      await inst.call(`${API}#reset`, []);
      await inst.call(`${API}#put-${STRING}`, ['\uFEFFx']);
      assert.deepEqual([...await dump(inst, HEAP, 4)], [0xef, 0xbb, 0xbf, 0x78], 'lowered with the U+FEFF');
      const img = new Image();
      const at = img.alloc(16, 8);
      const text = img.alloc(4, 1);
      img.bytes.set([0xef, 0xbb, 0xbf, 0x78], img.at(text));
      img.view.setUint32(img.at(at), text, true);
      img.view.setUint32(img.at(at) + 4, 4, true);
      await inst.call(`${API}#set`, [DATA, img.bytes]);
      assert.deepEqual(await inst.call(`${API}#get-${STRING}`, []), ['\uFEFFx', 0], 'lifted with the U+FEFF');
      img.bytes[img.at(text) + 3] = 0xff;
      await inst.call(`${API}#set`, [DATA, img.bytes]);
      await assert.rejects(inst.call(`${API}#get-${STRING}`, []), (e) => e instanceof Trap && e.kind === 'invalid-conversion');
    }
  });

  test('closing', async () => {
    await rt.close();
  });
});

/**
 * `ours` with every 8-byte slot that differs from jco's only by jco's sign extension of a 32-bit
 * payload joined into an i64 (a variant whose cases put an f32 and an i64 in the same slot) made
 * jco's: the Canonical ABI zero-extends the 32 bits (as we do), and reads back only the low half.
 */
function signExtendedF32(ours: Buffer, jco: Buffer): Buffer {
  const out = Buffer.from(ours);
  for (let off = 0; off + 8 <= out.length; off += 8) {
    const low = out.readUInt32LE(off);
    if (low === jco.readUInt32LE(off) && (low & 0x8000_0000) !== 0 && out.readUInt32LE(off + 4) === 0 && jco.readUInt32LE(off + 4) === 0xffff_ffff) {
      out.writeUInt32LE(0xffff_ffff, off + 4);
    }
  }
  return out;
}

function replacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  return v;
}
