/** Compiles WAT test sources in memory with every post-MVP feature the fixtures may need. */
import wabtInit from 'wabt';
import { WAT_FEATURES as features } from '../../scripts/wat-features.ts';

let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined;

export async function wat(source: string, options: { names?: boolean } = {}): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const module = wabt.parseWat('test.wat', source, features);
  try {
    module.resolveNames();
    // The typings omit it, but validate takes the feature set; without it post-MVP modules fail.
    (module as unknown as { validate(f: object): void }).validate(features);
    return new Uint8Array(module.toBinary({ write_debug_names: options.names ?? false }).buffer);
  } finally {
    module.destroy();
  }
}
