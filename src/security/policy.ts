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

export interface Policy {
  capabilities: Capabilities;
  resourceLimits: ResourceLimits;
  serve: ServePolicy;
}

export interface PolicyDocument {
  capabilities?: CapabilitiesInit;
  resourceLimits?: ResourceLimitsInit;
  serve?: ServePolicy;
}

/**
 * Validates a policy document and builds the same objects code would build. Relative host paths
 * resolve against `baseDir` (a policy file's own directory when loaded from disk).
 */
export function parsePolicy(doc: unknown, baseDir = process.cwd()): Policy {
  validatePolicySection('policy', doc);
  const d = doc as PolicyDocument;
  return {
    capabilities: Capabilities.from(d.capabilities ?? {}, { baseDir, pathPrefix: '/capabilities' }),
    resourceLimits: ResourceLimits.from(d.resourceLimits ?? {}, { pathPrefix: '/resourceLimits' }),
    serve: { ...d.serve },
  };
}

// The YAML parser is loaded on first use: most runs have no policy file, and it costs ~20 ms to load.
function parseYaml(text: string): unknown {
  return (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
}

/** Loads a JSON (`.json`) or YAML (anything else) policy file. */
export function loadPolicy(path: string): Policy {
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
  return parsePolicy(doc ?? {}, dirname(file));
}
