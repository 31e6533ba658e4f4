import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * This package's root directory (where package.json and schema/ live), found by walking up from this
 * file: the same code runs from `src/` and from the bundles in `dist/bundle/` (or a test's copy), each at
 * a different depth. Plain paths, not URLs: the first URL-to-path conversion of a process costs a
 * millisecond of start-up.
 */
function findRoot(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'schema', 'policy.schema.json')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return dirname(import.meta.dirname);
}

let root: string | undefined;

/** The package's root directory. */
export function packageRoot(): string {
  root ??= findRoot();
  return root;
}

let version: string | undefined;

export function packageVersion(): string {
  if (version !== undefined) return version;
  version = '0.0.0';
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'wasm-sandbox' && pkg.version) version = pkg.version;
  } catch {
    // A version is never worth failing for.
  }
  return version;
}
