import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { ResourceLimitExceeded, Timeout, Trap, WasmSandboxError } from '../../errors.ts';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import type { Denial } from './audit-log.ts';

/** What one tool call runs under: the server-wide grant, or the tool's own override. */
export interface ToolGrant {
  readonly capabilities: Capabilities;
  readonly resourceLimits: ResourceLimits;
}

/** A tool call's answer for the client, plus what the audit log records about it. */
export interface ToolOutcome {
  result: CallToolResult;
  outcome: string;
  /** Error code for operators; never part of `result`. */
  error?: string;
}

/** A source of MCP tools backed by sandboxed guests: a WASI MCP server, or a component's exports. */
export interface ToolBackend {
  readonly kind: 'wasi' | 'component';
  /** The tools as listed to clients; fixed once the backend has loaded. */
  readonly tools: readonly Tool[];
  /** Functions of the guest that are not offered as tools, and why. */
  readonly skipped?: readonly { function: string; reason: string }[];
  /** Runs one call in a fresh guest instance; refusals the sandbox reports during it are pushed to `denials`. */
  call(name: string, args: Record<string, unknown>, grant: ToolGrant, denials: Denial[], signal?: AbortSignal): Promise<ToolOutcome>;
  close(): Promise<void>;
}

export function errorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/**
 * Maps a failure of the guest to a short message for the client and an outcome for the audit log.
 * The client learns what kind of stop it was (so a model can adapt) but nothing about the host.
 */
export function failureOutcome(err: unknown): ToolOutcome {
  const code = err instanceof WasmSandboxError ? err.code : 'INTERNAL';
  if (err instanceof Timeout) return { result: errorResult('The tool was stopped: it ran past its time limit.'), outcome: 'timeout', error: code };
  if (err instanceof ResourceLimitExceeded) return { result: errorResult('The tool was stopped: it exceeded a resource limit.'), outcome: 'limit', error: `${code}:${err.limit}` };
  if (err instanceof Trap) return { result: errorResult('The tool crashed.'), outcome: 'trap', error: `${code}:${err.kind}` };
  return { result: errorResult('The tool could not run.'), outcome: 'error', error: code };
}
