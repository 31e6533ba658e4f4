/**
 * Deterministic corruption of valid binaries for fuzz tests. The generator is seeded so that a
 * failing case can be replayed from the seed and index printed with it.
 */

/** xorshift32: tiny, fast, and good enough to pick mutation sites. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

export interface Mutation {
  index: number;
  description: string;
  bytes: Uint8Array;
}

type Mutator = (input: Uint8Array, rand: () => number, pick: (n: number) => number) => { bytes: Uint8Array; what: string };

/**
 * Positions past the preamble are preferred: a broken magic number is rejected on the first
 * byte, so mutating it tests nothing.
 */
function site(input: Uint8Array, rand: () => number, pick: (n: number) => number): number {
  if (input.length <= 8 || rand() < 0.03) return pick(Math.max(input.length, 1));
  return 8 + pick(input.length - 8);
}

const MUTATORS: Mutator[] = [
  (input, rand, pick) => {
    const out = input.slice();
    const flips = 1 + pick(4);
    const at: number[] = [];
    for (let i = 0; i < flips && out.length > 0; i++) {
      const p = site(out, rand, pick);
      out[p] ^= 1 << pick(8);
      at.push(p);
    }
    return { bytes: out, what: `bit flips at ${at.join(',')}` };
  },
  (input, rand, pick) => {
    const out = input.slice();
    const p = site(out, rand, pick);
    if (out.length > 0) out[p] = pick(256);
    return { bytes: out, what: `random byte at ${p}` };
  },
  (input, rand, pick) => {
    const p = site(input, rand, pick);
    const n = 1 + pick(8);
    const out = new Uint8Array(input.length + n);
    out.set(input.subarray(0, p), 0);
    for (let i = 0; i < n; i++) out[p + i] = pick(256);
    out.set(input.subarray(p), p + n);
    return { bytes: out, what: `insert ${n} bytes at ${p}` };
  },
  (input, rand, pick) => {
    const p = site(input, rand, pick);
    const n = Math.min(1 + pick(8), input.length - p);
    const out = new Uint8Array(input.length - n);
    out.set(input.subarray(0, p), 0);
    out.set(input.subarray(p + n), p);
    return { bytes: out, what: `delete ${n} bytes at ${p}` };
  },
  (input, _rand, pick) => {
    const n = pick(input.length + 1);
    return { bytes: input.slice(0, n), what: `truncate to ${n}` };
  },
  (input, rand, pick) => {
    // Lengthen a LEB128 by setting its continuation bit, or make a size/count field huge.
    const out = input.slice();
    const p = site(out, rand, pick);
    const mode = pick(3);
    if (mode === 0) out[p] |= 0x80;
    else if (mode === 1) out[p] = 0xff;
    else out[p] = (out[p] + 1 + pick(3)) & 0xff;
    return { bytes: out, what: `LEB bump (mode ${mode}) at ${p}` };
  },
  (input, rand, pick) => {
    // Forge a maximal u32 LEB (0xffffffff) in place of whatever was there.
    const p = site(input, rand, pick);
    const rest = input.subarray(Math.min(p + 1, input.length));
    const out = new Uint8Array(p + 5 + rest.length);
    out.set(input.subarray(0, p), 0);
    out.set([0xff, 0xff, 0xff, 0xff, 0x0f], p);
    out.set(rest, p + 5);
    return { bytes: out, what: `max u32 at ${p}` };
  },
];

/** Yields `count` mutated copies of `bytes`; the same seed always yields the same sequence. */
export function* mutations(seed: number, bytes: Uint8Array, count: number): Generator<Mutation> {
  const rand = prng(seed);
  const pick = (n: number): number => Math.floor(rand() * n);
  for (let index = 0; index < count; index++) {
    let current = bytes;
    const steps = 1 + (rand() < 0.25 ? pick(3) : 0);
    const what: string[] = [];
    for (let s = 0; s < steps; s++) {
      const m = MUTATORS[pick(MUTATORS.length)](current, rand, pick);
      current = m.bytes;
      what.push(m.what);
    }
    yield { index, description: `seed ${seed} #${index}: ${what.join('; ')}`, bytes: current };
  }
}
