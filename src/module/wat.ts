/** WAT text to a binary, for `wasm-sandbox run x.wat`; the fixture builder shares its feature set. */
import { createRequire } from 'node:module';
import { InvalidModule } from '../errors.ts';

/** Every post-MVP feature WAT text may use, for wabt's parser and validator. */
export const WAT_FEATURES = {
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

type Wabt = Awaited<ReturnType<typeof import('wabt')>>;

/**
 * Compiles WAT with the `wabt` package, loaded only here: it is an optional dependency, and
 * running a binary never needs it. The name section is kept, so traps show the text's names.
 */
export async function watToBinary(name: string, text: string): Promise<Uint8Array> {
  let wabt: Wabt;
  try {
    // Required, not imported: the bundled CLI runs from a code-cached script, where import() prints
    // an experimental warning.
    wabt = await (createRequire(import.meta.url)('wabt') as () => Promise<Wabt>)();
  } catch {
    throw new InvalidModule(`'${name}' is WAT text, which needs the 'wabt' package to compile: install it (npm install wabt) or give a .wasm binary`);
  }
  let module: ReturnType<Wabt['parseWat']> | undefined;
  try {
    module = wabt.parseWat(name, text, WAT_FEATURES);
    module.resolveNames();
    (module as unknown as { validate(f: object): void }).validate(WAT_FEATURES);
    return new Uint8Array(module.toBinary({ write_debug_names: true }).buffer);
  } catch (err) {
    throw new InvalidModule(`'${name}' is not valid WAT: ${(err as Error).message.trim()}`);
  } finally {
    module?.destroy();
  }
}
