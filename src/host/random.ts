/**
 * The random capability, one meaning for every ABI: `crypto` is the host's CSPRNG; `{ seed }` a
 * deterministic stream, the same bytes through preview1 and preview2 for the same seed; `none`
 * refuses every request: reported as a `random` violation and raised as ENOTCAPABLE (preview1
 * returns it; preview2, whose random functions have no error case, ends the guest with
 * SecurityViolation('random')).
 */
import type { RandomPolicy } from '../security/capabilities.ts';
import type { Violations } from './violations.ts';

/** Fills a buffer with what the grant allows. */
export interface RandomSource {
  fill(dst: Uint8Array): void;
}

class CryptoRandom implements RandomSource {
  fill(dst: Uint8Array): void {
    // node:crypto is loaded on first use: most guests never ask for randomness, and it costs start-up time.
    const { randomFillSync } = process.getBuiltinModule('node:crypto');
    // randomFillSync caps one call at 2^31-1 bytes; wasm32 buffers can be larger.
    const CHUNK = 1 << 30;
    for (let off = 0; off < dst.length; off += CHUNK) randomFillSync(dst.subarray(off, Math.min(dst.length, off + CHUNK)));
  }
}

/**
 * xoshiro128** seeded through splitmix32: reproducible across runs and platforms for a given seed,
 * fast, and explicitly NOT cryptographic (a seeded policy is for deterministic replays).
 */
export class SeededRandom implements RandomSource {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b9);
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  fill(dst: Uint8Array): void {
    let i = 0;
    const n = dst.length;
    for (; i + 4 <= n; i += 4) {
      const v = this.nextU32();
      dst[i] = v;
      dst[i + 1] = v >>> 8;
      dst[i + 2] = v >>> 16;
      dst[i + 3] = v >>> 24;
    }
    if (i < n) {
      let v = this.nextU32();
      for (; i < n; i++, v >>>= 8) dst[i] = v;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

class NoRandom implements RandomSource {
  private readonly violations: Violations;

  constructor(violations: Violations) {
    this.violations = violations;
  }

  fill(): void {
    this.violations.refuse('random', 'randomness refused: no randomness granted', 'ENOTCAPABLE');
  }
}

export function createRandom(policy: RandomPolicy, violations: Violations): RandomSource {
  if (policy === 'crypto') return new CryptoRandom();
  if (policy === 'none') return new NoRandom(violations);
  return new SeededRandom(policy.seed);
}
