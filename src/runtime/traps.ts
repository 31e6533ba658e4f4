import { Trap, WasmSandboxError, type TrapKind, type WasmFrame } from '../errors.ts';
import type { FrameMap } from '../module/frame-map.ts';

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

// `name (wasm://wasm/HASH:wasm-function[N]:0xOFF)`, or the part in parentheses alone for a function without a name.
const V8_FRAME = /^(?:(.*) \()?wasm:\/\/wasm\/[^:]*:wasm-function\[(\d+)\]:0x([0-9a-f]+)\)?$/i;

/** A frame line as printed for users: `name (wasm-function[N]:0xOFF)`. */
export function formatFrame(frame: WasmFrame): string {
  const at = `wasm-function[${frame.function}]:0x${frame.offset.toString(16)}`;
  return frame.name ? `${frame.name} (${at})` : at;
}

/**
 * The guest frames of `err` in the terms of the module as given: instrumented indices and offsets
 * mapped back through `map`, the sandbox's own functions left out.
 */
function mappedFrames(lines: readonly string[], map: FrameMap, limit: number): { wasmStack: string[]; frames: WasmFrame[] } {
  const frames: WasmFrame[] = [];
  for (const line of lines) {
    const m = V8_FRAME.exec(line);
    if (!m) continue;
    const f = map.func(Number(m[2]));
    if (f === null) continue;
    frames.push({ function: f, ...(m[1] && { name: m[1] }), offset: map.offset(parseInt(m[3], 16)) });
    if (frames.length === limit) break;
  }
  return { wasmStack: frames.map(formatFrame), frames };
}

function stackOf(err: unknown, map: FrameMap | undefined, limit = Infinity): { wasmStack: string[]; frames?: WasmFrame[] } {
  if (map) return mappedFrames(wasmFrames(err), map, limit);
  const lines = wasmFrames(err);
  return { wasmStack: limit < lines.length ? lines.slice(0, limit) : lines };
}

/**
 * A trap reported with V8's lines (by an instance on a worker thread, which holds only the compiled
 * module) restated with the frames of the module as given.
 */
export function withModuleFrames(trap: Trap, map: FrameMap): Trap {
  if (trap.frames.length > 0 || trap.wasmStack.length === 0) return trap;
  const mapped = new Trap(trap.kind, trap.message, { ...mappedFrames(trap.wasmStack, map, Infinity), cause: trap.cause });
  mapped.stack = trap.stack;
  return mapped;
}

/**
 * Turns anything a guest call threw into a typed error. Errors already in the hierarchy (raised by our own
 * host functions: limits, timeouts, violations) pass through untouched. With `frames`, the trap's frames
 * are those of the module as given (see `WasmFrame`); without, V8's lines as they are.
 */
export function toSandboxError(err: unknown, context: string, frames?: () => FrameMap): WasmSandboxError {
  if (err instanceof WasmSandboxError) return err;
  const map = () => frames?.();
  if (err instanceof WebAssembly.RuntimeError) {
    const kind = PATTERNS.find(([re]) => re.test(err.message))?.[1] ?? 'unknown';
    return new Trap(kind, `${context}: wasm trap: ${err.message}`, { ...stackOf(err, map()), cause: err });
  }
  // A strict TextDecoder refusing a guest's string while the component's glue lifts it.
  if (err instanceof TypeError && (err as NodeJS.ErrnoException).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') {
    return new Trap('invalid-conversion', `${context}: canonical ABI: a string is not valid UTF-8`, { wasmStack: wasmFrames(err), cause: err });
  }
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new Trap('stack-overflow', `${context}: stack overflow (call stack exhausted)`, { ...stackOf(err, map(), 32), cause: err });
  }
  if (err instanceof RangeError && /memory|allocation/i.test(err.message)) {
    return new Trap('out-of-memory', `${context}: ${err.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new Trap('host-error', `${context}: host function failed: ${message}`, { ...stackOf(err, map()), cause: err });
}
