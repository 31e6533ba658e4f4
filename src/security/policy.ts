import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { InvalidPolicy } from '../errors.ts';
import { Capabilities, type CapabilitiesInit } from './capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from './resource-limits.ts';
import { validatePolicySection } from './policy-validator.ts';

/** Settings of `wasm-sandbox serve` that belong with the guest rather than the command line. */
export interface ServePolicy {
  /** Serve later requests with a component instance that answered cleanly (default true). */
  reuseInstances?: boolean;
}

/** A parsed policy: the objects `createInstance` takes. */
export interface Policy {
  /** What the guest may touch. */
  capabilities: Capabilities;
  /** How much it may consume. */
  resourceLimits: ResourceLimits;
  /** Settings of `wasm-sandbox serve` (empty when the file has none). */
  serve: ServePolicy;
}

/** A policy file's contents, as `policy.schema.json` describes them. */
export interface PolicyDocument {
  /** Grants; absent ones are denied. */
  capabilities?: CapabilitiesInit;
  /** Limits; absent ones take `ResourceLimits.default()` values. */
  resourceLimits?: ResourceLimitsInit;
  /** Settings of `wasm-sandbox serve`. */
  serve?: ServePolicy;
}

/**
 * Validates a policy document and builds the same objects code would build. Relative host paths
 * resolve against `baseDir` (a policy file's own directory when loaded from disk).
 *
 * With `defaults` (a command's own starting point, such as `wasm-sandbox run`'s inherited stdio and
 * lifted deadline), the document is laid over them: what it names replaces the default, stdio per
 * stream, and what it leaves out keeps the default. Without, what it leaves out is denied or takes
 * `ResourceLimits.default()`.
 */
export function parsePolicy(doc: unknown, baseDir = process.cwd(), defaults?: Policy): Policy {
  validatePolicySection('policy', doc);
  const d = doc as PolicyDocument;
  const capabilities = Capabilities.from(d.capabilities ?? {}, { baseDir, pathPrefix: '/capabilities' });
  const resourceLimits = ResourceLimits.from(d.resourceLimits ?? {}, { pathPrefix: '/resourceLimits' });
  const serve = { ...d.serve };
  if (!defaults) return { capabilities, resourceLimits, serve };
  // Taken from the parsed object, not the document: its host paths are resolved against baseDir.
  const parsed = capabilities.toJSON() as Record<string, unknown>;
  const named = Object.fromEntries(Object.keys(d.capabilities ?? {}).map((key) => [key, parsed[key]])) as CapabilitiesInit;
  if (d.capabilities?.stdio) named.stdio = { ...defaults.capabilities.stdio, ...d.capabilities.stdio };
  return { capabilities: defaults.capabilities.with(named), resourceLimits: defaults.resourceLimits.with(d.resourceLimits ?? {}), serve: { ...defaults.serve, ...serve } };
}

// The YAML parser is loaded on first use: most runs have no policy file, and it costs ~20 ms to load.
function parseYaml(text: string): unknown {
  return (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
}

/** Loads a JSON (`.json`) or YAML (anything else) policy file; `defaults` as for `parsePolicy`. */
export function loadPolicy(path: string, defaults?: Policy): Policy {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidPolicy('', `cannot read policy file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new InvalidPolicy('', `${file} is not valid ${extname(file).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return parsePolicy(doc ?? {}, dirname(file), defaults);
}
