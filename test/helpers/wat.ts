/** Compiles WAT test sources in memory with every post-MVP feature the fixtures may need. */
import wabtInit from 'wabt';

const features = {
  exceptions: true,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
  threads: true,
  function_references: false,
  multi_value: true,
  tail_call: true,
  bulk_memory: true,
  reference_types: true,
  memory64: true,
  multi_memory: true,
  extended_const: true,
  relaxed_simd: true,
};

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
