/**
 * Edits to the JavaScript jco generates, applied once before it is cached. jco's `_debugLog` reads
 * `process.env.JCO_DEBUG` on every call and, when that is set, prints guest data to the console; it
 * becomes a no-op, which is both faster and keeps guest data out of the host's logs.
 * Bump GLUE_TRANSFORM_VERSION whenever an edit changes, so cached glue is regenerated.
 */
export const GLUE_TRANSFORM_VERSION = 1;

const DEBUG_LOG = /const _debugLog = \(\.\.\.args\) => \{\s*if \(!globalThis\?\.process\?\.env\?\.JCO_DEBUG\) \{ return; \}\s*console\.debug\(\.\.\.args\);\s*\};/g;

export interface GlueTransformResult {
  source: string;
  /** Edits that matched; a jco upgrade that changes its output shows here as a missing edit. */
  applied: string[];
}

export function transformGlue(source: string): GlueTransformResult {
  const applied: string[] = [];
  let out = source.replace(DEBUG_LOG, () => {
    applied.push('debug-log');
    return 'const _debugLog = () => {};';
  });
  return { source: out, applied: [...new Set(applied)] };
}
