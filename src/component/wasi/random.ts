/**
 * wasi:random (random, insecure, insecure-seed) from the grant's random policy, with the preview1
 * sources: crypto, a seeded deterministic stream, or none. Preview2 has no error case for these, so
 * a component that asks for randomness it was not granted is stopped with SecurityViolation.
 */
import { inHostWorkChunks } from '../../runtime/limits/host-work.ts';
import { createRandom } from '../../wasi/random.ts';
import { guardFunctions, type HostState } from './host-state.ts';

/** Largest single request served; a guest asking for more is refused rather than served a huge buffer. */
const MAX_REQUEST = 64 * 1024 * 1024;

export function createRandomInterfaces(state: HostState): Record<string, Record<string, unknown>> {
  const source = createRandom(state.caps.random);
  const denied = state.caps.random === 'none';

  function bytes(len: bigint): Uint8Array {
    if (denied) state.deny('random', 'randomness requested but not granted');
    const n = Number(len > BigInt(MAX_REQUEST) ? BigInt(MAX_REQUEST) : len);
    const out = new Uint8Array(n);
    if (n === 0) source.fill(out);
    inHostWorkChunks(() => state.interrupt(), n, (off, len) => source.fill(out.subarray(off, off + len)));
    return out;
  }

  function u64(): bigint {
    const b = bytes(8n);
    return new DataView(b.buffer).getBigUint64(0, true);
  }

  return {
    'wasi:random/random': guardFunctions({ getRandomBytes: bytes, getRandomU64: u64 }, state),
    'wasi:random/insecure': guardFunctions({ getInsecureRandomBytes: bytes, getInsecureRandomU64: u64 }, state),
    'wasi:random/insecure-seed': guardFunctions({ insecureSeed: (): [bigint, bigint] => [u64(), u64()] }, state),
  };
}
