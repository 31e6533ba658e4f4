/**
 * How `run` reports the end of a guest on stderr: one line for a failure, the guest's backtrace for
 * a trap (as wasmtime prints it), and the `--json` summary. Shared by the module and component paths,
 * which the bundled CLI ships as separate files, each with its own copy of the error classes.
 */
import { Trap, type WasmSandboxError } from '../errors.ts';
import { exitFor } from './exit-codes.ts';

/** Prints `error` (and a trap's frames: offset in the module file, then `module!function`); returns the exit status. */
export function printFailure(error: unknown, moduleName: string): number {
  const failure = exitFor(error);
  process.stderr.write(`wasm-sandbox: ${failure.message}\n`);
  if (error instanceof Trap && error.wasmStack.length) {
    const lines = error.frames.length
      ? error.frames.map((f, i) => `${String(i).padStart(5)}: ${`0x${f.offset.toString(16)}`.padStart(8)} - ${moduleName}!${f.name ?? `<wasm function ${f.function}>`}`)
      : error.wasmStack.map((frame, i) => `${String(i).padStart(5)}: ${frame}`);
    process.stderr.write(`wasm backtrace:\n${lines.join('\n')}\n`);
  }
  return failure.status;
}

/** The `--json` summary: exit code, status, error and (for modules) metrics. */
export function printReport(status: number, exitCode: number | null, error: WasmSandboxError | undefined, metrics?: unknown): void {
  process.stderr.write(`${JSON.stringify({ exitCode, status, error: error ? { code: error.code, message: error.message } : null, ...(metrics !== undefined && { metrics }) })}\n`);
}
