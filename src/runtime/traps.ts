import { Trap, WasmSandboxError, type TrapKind } from '../errors.ts';

// V8's RuntimeError messages, matched loosely so that wording changes across versions still classify.
const PATTERNS: [RegExp, TrapKind][] = [
  [/unreachable/i, 'unreachable'],
  [/memory access out of bounds|out of bounds memory access|data segment.*out of bounds/i, 'out-of-bounds'],
  [/(divide|remainder) by zero/i, 'divide-by-zero'],
  [/divide result unrepresentable|integer overflow/i, 'integer-overflow'],
  [/float unrepresentable|invalid conversion/i, 'invalid-conversion'],
  [/signature mismatch|null function/i, 'indirect-call-type-mismatch'],
  [/table index is out of bounds|table.*out of bounds|element segment/i, 'table-out-of-bounds'],
  [/null|dereferencing/i, 'null-reference'],
  [/unaligned/i, 'unaligned-atomic'],
  [/out of memory|array buffer allocation failed/i, 'out-of-memory'],
];

/** The wasm frames of a V8 stack trace, innermost first. */
export function wasmFrames(err: unknown): string[] {
  const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : '';
  return stack
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes('wasm://') || l.includes('wasm-function['))
    .map((l) => l.replace(/^at\s+/, ''));
}

/**
 * Turns anything a guest call threw into a typed error. Errors already in the hierarchy (raised by our own
 * host functions: limits, timeouts, violations) pass through untouched.
 */
export function toSandboxError(err: unknown, context: string): WasmSandboxError {
  if (err instanceof WasmSandboxError) return err;
  if (err instanceof WebAssembly.RuntimeError) {
    const kind = PATTERNS.find(([re]) => re.test(err.message))?.[1] ?? 'unknown';
    return new Trap(kind, `${context}: wasm trap: ${err.message}`, { wasmStack: wasmFrames(err), cause: err });
  }
  // A strict TextDecoder refusing a guest's string while the component's glue lifts it.
  if (err instanceof TypeError && (err as NodeJS.ErrnoException).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') {
    return new Trap('invalid-conversion', `${context}: canonical ABI: a string is not valid UTF-8`, { wasmStack: wasmFrames(err), cause: err });
  }
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new Trap('stack-overflow', `${context}: stack overflow (call stack exhausted)`, { wasmStack: wasmFrames(err).slice(0, 32), cause: err });
  }
  if (err instanceof RangeError && /memory|allocation/i.test(err.message)) {
    return new Trap('out-of-memory', `${context}: ${err.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new Trap('host-error', `${context}: host function failed: ${message}`, { wasmStack: wasmFrames(err), cause: err });
}
