/**
 * Components and MCP servers are built on packages a default install leaves out (over 130 MB together,
 * see the README), declared as optional peer dependencies in package.json. Every place that reaches one
 * goes through here, so the library never loads them before the feature is used, and a missing one is
 * a `MissingDependency` naming what to install instead of a module-resolution stack.
 */
import { MissingDependency } from './errors.ts';

/** Each feature's optional packages, as package.json's peerDependencies and the README list them. */
const FEATURES: Record<string, readonly string[]> = {
  components: ['@bytecodealliance/jco-transpile'],
  'MCP servers': ['@modelcontextprotocol/sdk', 'ajv'],
};

/**
 * Runs `load` (a dynamic import of an optional package, or of one of our modules that imports one) and
 * turns "cannot find package X" for an optional X into a `MissingDependency`. Any other failure passes
 * through unchanged.
 */
export async function importOptional<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw missingDependency(err) ?? err;
  }
}

/** The synchronous twin for `require` / `require.resolve`. */
export function requireOptional<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    throw missingDependency(err) ?? err;
  }
}

function missingDependency(err: unknown): MissingDependency | undefined {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if ((code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') || typeof message !== 'string') return undefined;
  // Node quotes the package it could not find; any other missing module is a different fault.
  for (const [feature, packages] of Object.entries(FEATURES)) {
    const name = packages.find((n) => message.includes(`'${n}'`) || message.includes(`'${n}/`) || message.includes(`"${n}"`));
    if (name) return new MissingDependency(name, feature, packages, { cause: err });
  }
  return undefined;
}
