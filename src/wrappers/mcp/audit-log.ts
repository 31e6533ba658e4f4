import { JsonLinesLog } from '../json-lines-log.ts';

/** One refused operation during a tool call. */
export interface Denial {
  /** The capability it would have needed, e.g. `filesystem` or `network`. */
  capability: string;
  /** What was attempted, e.g. the path or address. */
  detail: string;
}

/** One line of the JSON-lines audit log: one tool call. */
export interface AuditEntry {
  /** When the call ended, as an ISO 8601 timestamp. */
  time: string;
  /** Id of the server that ran it. */
  server: string;
  /** The tool's name. */
  tool: string;
  /** sha256 (hex) of the canonical JSON of the arguments: lets calls be correlated without logging their content. */
  argsDigest: string;
  /**
   * `ok`; `tool-error` (the tool answered with isError); or why it did not answer: `timeout`, `limit`, `trap`,
   * `no-response`, `bad-response`, `unknown-tool`, `invalid-arguments`, `busy`, `error`.
   */
  outcome: string;
  /** How long the call took, in ms. */
  durationMs: number;
  /** The first capability the sandbox refused during the call, when any was. */
  deniedCapability?: string;
  /** Every refusal during the call (at most 16), as the sandbox reported them. */
  denials?: Denial[];
  /** The typed error's code, for operators; never sent to the client. */
  error?: string;
}

const MAX_DENIALS = 16;

/** JSON with object keys sorted at every level, so equal arguments always hash alike. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

export function argsDigest(args: unknown): string {
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(canonicalJson(args ?? {})).digest('hex');
}

/** JSON lines, one per tool call (denied or not), to a stream or a file. */
export class AuditLog extends JsonLinesLog<AuditEntry> {
  write(entry: Omit<AuditEntry, 'deniedCapability' | 'denials'>, denials: readonly Denial[] = []): void {
    this.append(denials.length ? { ...entry, deniedCapability: denials[0].capability, denials: denials.slice(0, MAX_DENIALS) } : entry);
  }
}
