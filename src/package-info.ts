import { existsSync, readFileSync } from 'node:fs';

/**
 * This package's package.json, found by walking up from this file: the same code runs from `src/`,
 * from the tsc build in `dist/` and from the bundled CLI, each at a different depth.
 */
function findPackageJson(): { name: string; version: string } {
  let dir = new URL('./', import.meta.url);
  for (let i = 0; i < 6; i++) {
    const candidate = new URL('package.json', dir);
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'wasm-sandbox') return { name: pkg.name, version: pkg.version ?? '0.0.0' };
    }
    dir = new URL('../', dir);
  }
  return { name: 'wasm-sandbox', version: '0.0.0' };
}

let info: { name: string; version: string } | undefined;

export function packageVersion(): string {
  info ??= findPackageJson();
  return info.version;
}

/** The package's root directory (where package.json and schema/ live). */
export function packageRoot(): URL {
  let dir = new URL('./', import.meta.url);
  for (let i = 0; i < 6; i++) {
    if (existsSync(new URL('schema/policy.schema.json', dir))) return dir;
    dir = new URL('../', dir);
  }
  return new URL('../', import.meta.url);
}
