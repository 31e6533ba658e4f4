/** Builds the package's bundles (scripts/bundle.ts) into a fresh directory for one test file. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Returns the output directory; `remove()` it when done. */
export function buildBundle(): { outdir: string; remove: () => void } {
  // Inside the package (the bundles read the policy schema and resolve dependencies from there), but
  // not in dist/, which `npm run build` replaces whole.
  mkdirSync(join(packageRoot, '.cache'), { recursive: true });
  const outdir = mkdtempSync(join(packageRoot, '.cache', 'test-bundle-'));
  const r = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'bundle.ts'), '--outdir', outdir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { outdir, remove: () => rmSync(outdir, { recursive: true, force: true }) };
}
