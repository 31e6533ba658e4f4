import { InvalidPolicy, ModuleNotFound, ResourceLimitExceeded, Timeout, Trap, WasmSandboxError } from '../errors.ts';
import { UsageError } from './args.ts';

/** Exit statuses, chosen to match what shells and supervisors already understand. */
export const EXIT = {
  usage: 2,
  cannotExecute: 126,
  notFound: 127,
  timeout: 124,
  trap: 134,
  limit: 137,
} as const;

/** Maps a failure to its exit status and the one-line message printed for it. */
export function exitFor(err: unknown): { status: number; message: string } {
  if (err instanceof UsageError) return { status: EXIT.usage, message: `usage error: ${err.message} (see --help)` };
  if (err instanceof InvalidPolicy) return { status: EXIT.usage, message: `policy error: ${err.message}` };
  if (err instanceof Timeout) return { status: EXIT.timeout, message: `timeout: ${err.message}` };
  if (err instanceof ResourceLimitExceeded) return { status: EXIT.limit, message: `resource limit: ${err.message}` };
  if (err instanceof Trap) return { status: EXIT.trap, message: `trap (${err.kind}): ${err.message}` };
  if (err instanceof ModuleNotFound) return { status: EXIT.notFound, message: `not found: ${err.message}` };
  if (err instanceof WasmSandboxError) return { status: EXIT.cannotExecute, message: `${err.code.toLowerCase().replaceAll('_', ' ')}: ${err.message}` };
  return { status: 1, message: `internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}` };
}
