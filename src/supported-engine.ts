/**
 * Which JavaScript runtimes wasm-sandbox runs on. Below the supported Node.js the library fails in
 * ways that do not say why (`process.getBuiltinModule is not a function` on 22.2, `require()` of the
 * package below 22.12), so the entry points ask here first (src/engine-check.ts, src/cli/engine-check-cli.ts).
 */

/** The lowest supported Node.js; package.json's `engines.node` says the same (a test keeps them equal). */
export const NODE_FLOOR = '22.12.0';

/** Why this runtime cannot run wasm-sandbox, or undefined when it can. */
export function runtimeProblem(node: string | undefined = process.versions.node): string | undefined {
  // Bun and Deno report the Node.js version they emulate; what they support is tested on its own.
  if (process.versions.bun !== undefined || 'Deno' in globalThis || node === undefined) return undefined;
  const have = node.split('.').map(Number);
  const need = NODE_FLOOR.split('.').map(Number);
  for (let i = 0; i < need.length; i++) {
    if ((have[i] ?? 0) > need[i]) return undefined;
    if ((have[i] ?? 0) < need[i]) return `wasm-sandbox needs Node.js ${NODE_FLOOR} or newer; this is Node.js ${node}`;
  }
  return undefined;
}
