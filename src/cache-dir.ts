import { join } from 'node:path';

/** `$WASM_SANDBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/wasm-sandbox`, else `~/.cache/wasm-sandbox`. */
export function defaultCacheDir(): string {
  const explicit = process.env.WASM_SANDBOX_CACHE_DIR;
  if (explicit) return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg || join(process.getBuiltinModule('node:os').homedir(), '.cache'), 'wasm-sandbox');
}
