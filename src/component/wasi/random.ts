/**
 * wasi:random (random, insecure, insecure-seed) over the core's random source
 * (`src/host/random.ts`), the one preview1 uses: crypto, a seeded deterministic stream, or none.
 * Preview2 has no error case for these, so the core's refusal ends the guest (SecurityViolation).
 */
import { createRandom } from '../../host/random.ts';
import { guardFunctions, type HostState } from './host-state.ts';

/** Largest single request served; a guest asking for more is refused rather than served a huge buffer. */
const MAX_REQUEST = 64 * 1024 * 1024;

export function createRandomInterfaces(state: HostState): Record<string, Record<string, unknown>> {
  const source = createRandom(state.caps.random, state.violations);

  function bytes(len: bigint): Uint8Array {
    const n = Number(len > BigInt(MAX_REQUEST) ? BigInt(MAX_REQUEST) : len);
    const out = new Uint8Array(n);
    state.decide(() => {
      if (n === 0) source.fill(out);
      state.work.inChunks(n, (off, len) => source.fill(out.subarray(off, off + len)));
    });
    return out;
  }

  function u64(): bigint {
    const b = bytes(8n);
    return new DataView(b.buffer).getBigUint64(0, true);
  }

  // The seed is one value per instance (a hash map seeded twice must agree), drawn at its first read,
  // so the grant is still decided then.
  let seed: [bigint, bigint] | undefined;
  return {
    'wasi:random/random': guardFunctions({ getRandomBytes: bytes, getRandomU64: u64 }, state),
    'wasi:random/insecure': guardFunctions({ getInsecureRandomBytes: bytes, getInsecureRandomU64: u64 }, state),
    'wasi:random/insecure-seed': guardFunctions({ insecureSeed: (): [bigint, bigint] => [...(seed ??= [u64(), u64()])] }, state),
  };
}
