/**
 * Compiles every fixtures/abi/as/*.ts (AssemblyScript guests of the structured-call ABI) to a .wasm
 * beside it, with the guest SDK's export-renaming transform. Outputs are committed; rerun after
 * editing a guest or guest/assemblyscript.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'fixtures', 'abi', 'as');
const transform = join(root, 'guest', 'assemblyscript', 'transform.js');

let failed = 0;
for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort()) {
  const out = join(dir, file.replace(/\.ts$/, '.wasm'));
  // `--use abort=` keeps the guest from importing env.abort: a failed assertion traps instead.
  const { error, stderr } = await asc.main([
    join(dir, file), '-o', out, '-O3', '--runtime', 'incremental', '--use', 'abort=', '--transform', transform,
  ]);
  if (error) {
    console.error(`FAILED ${relative(root, join(dir, file))}: ${error.message}\n${stderr.toString()}`);
    failed++;
  } else {
    console.log(`built ${relative(root, out)}`);
  }
}
process.exitCode = failed ? 1 : 0;
