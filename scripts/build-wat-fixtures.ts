/**
 * Compiles every fixtures/wat/*.wat, fixtures/abi/wat/*.wat and fixtures/hostile/*.wat to a .wasm beside it. The .wasm files are committed so tests
 * do not depend on the text toolchain; rerun this after editing a .wat.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';
import { WAT_FEATURES as features } from './wat-features.ts';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const dirs = [join(fixtures, 'wat'), join(fixtures, 'abi', 'wat'), join(fixtures, 'hostile')];

const wabt = await wabtInit();
for (const dir of dirs) {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.wat')).sort();
  for (const file of files) {
    const source = await readFile(join(dir, file), 'utf8');
    const module = wabt.parseWat(file, source, features);
    try {
      module.resolveNames();
      // The typings omit it, but validate takes the feature set; without it post-MVP modules fail.
      (module as unknown as { validate(f: object): void }).validate(features);
      const { buffer } = module.toBinary({});
      const out = join(dir, file.replace(/\.wat$/, '.wasm'));
      await writeFile(out, buffer);
      console.log(`${file} -> ${out} (${buffer.length} bytes)`);
    } finally {
      module.destroy();
    }
  }
}
