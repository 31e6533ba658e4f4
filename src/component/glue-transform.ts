/**
 * Edits to the JavaScript jco generates, applied once before it is cached. jco's `_debugLog` reads
 * `process.env.JCO_DEBUG` on every call and, when that is set, prints guest data to the console; it
 * becomes a no-op, which is both faster and keeps guest data out of the host's logs. Its resource
 * tables record every representation they ever handed out in a `_createdReps` set that nothing reads
 * and nothing empties: a long-lived instance (an HTTP handler serving request after request) would
 * grow it by every resource of every call, so the record is dropped. The wrapper every import call
 * goes through copies `arguments` by spreading it, which V8 does not optimise; a rest parameter
 * says the same and is. jco lifts guest strings with a lenient decoder, turning invalid UTF-8 into
 * U+FFFD (and dropping a leading U+FEFF); the Canonical ABI requires a trap, so the decoders (UTF-8,
 * and UTF-16 where a component lifts it) are made fatal, and the error it throws is reported as Trap('invalid-conversion') (runtime/traps.ts).
 * Bump GLUE_TRANSFORM_VERSION whenever an edit changes, so cached glue is regenerated.
 */
export const GLUE_TRANSFORM_VERSION = 4;

const LOWER_IMPORT_ARGS = /function _lowerImportBackwardsCompat\(args\) \{\s*const params = \[\.\.\.arguments\]\.slice\(1\);/g;
const CREATED_REPS = /^\s*table\._createdReps\.add\(rep\);\n/gm;
const UTF8_DECODER = /const TEXT_DECODER_UTF8 = new TextDecoder\(\);/g;
const UTF16_DECODER = /const (\w+) = new TextDecoder\('utf-16'\);/g;
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
  out = out.replace(LOWER_IMPORT_ARGS, () => {
    applied.push('lower-import-args');
    return 'function _lowerImportBackwardsCompat(args, ...params) {';
  });
  out = out.replace(UTF8_DECODER, () => {
    applied.push('strict-utf8');
    return "const TEXT_DECODER_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });";
  });
  // Only in glue for components that declare string-encoding=utf16: unpaired surrogates trap too.
  out = out.replace(UTF16_DECODER, (_m, name: string) => {
    applied.push('strict-utf16');
    return `const ${name} = new TextDecoder('utf-16', { fatal: true, ignoreBOM: true });`;
  });
  // Only if nothing else reads the set: a jco that starts to would keep it.
  if (!/_createdReps\.(has|delete|size|values|keys|forEach)\b/.test(out)) {
    out = out.replace(CREATED_REPS, () => {
      applied.push('created-reps');
      return '';
    });
  }
  return { source: out, applied: [...new Set(applied)] };
}
