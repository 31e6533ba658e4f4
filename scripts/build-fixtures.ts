/**
 * `npm run fixtures`: rebuilds every committed .wasm from the source beside it, one builder per
 * source language. Each builder is its own script so a single language can be rebuilt alone.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const builders = ['build-wat-fixtures.ts', 'build-binary-fixtures.ts', 'build-c-fixtures.ts', 'build-as-fixtures.ts', 'build-component-fixtures.ts'];
let failed = false;
for (const script of builders) {
  const path = new URL(script, import.meta.url);
  if (!existsSync(path)) continue;
  console.log(`== ${script}`);
  const r = spawnSync(process.execPath, [path.pathname], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
