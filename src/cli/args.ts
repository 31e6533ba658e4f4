/**
 * Argument parsing for `wasm-sandbox` commands. For `run`, options come before the module file and
 * everything after the file (or after `--`) belongs to the guest, so guest flags are never mistaken
 * for ours; commands whose guest takes no arguments of ours accept options on both sides of the file.
 */

export class UsageError extends Error {}

export interface OptionSpec {
  /** Takes a value (`--dir PATH` or `--dir=PATH`). */
  value: boolean;
  repeatable?: boolean;
}

export interface ParsedArgs {
  options: Map<string, string[]>;
  flags: Set<string>;
  file: string | undefined;
  rest: string[];
}

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const options = new Map<string, string[]>();
  const flags = new Set<string>();
  let file: string | undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      file = arg;
      i++;
      break;
    }
    const eq = arg.indexOf('=');
    const name = (eq > 0 ? arg.slice(0, eq) : arg).replace(/^--?/, '');
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option '${arg}'`);
    if (!s.value) {
      if (eq > 0) throw new UsageError(`option '--${name}' takes no value`);
      flags.add(name);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`option '--${name}' needs a value`);
    const list = options.get(name) ?? [];
    if (list.length && !s.repeatable) throw new UsageError(`option '--${name}' given more than once`);
    list.push(value);
    options.set(name, list);
  }
  if (file === undefined && i < argv.length) file = argv[i++];
  // `FILE.wasm -- ARGS`: the separator after the file only marks where the guest's arguments begin.
  if (argv[i] === '--') i++;
  return { options, flags, file, rest: argv.slice(i) };
}

/**
 * Like `parseArgs`, for commands that pass the guest no arguments (`serve`, `mcp`): options may also
 * follow the file, and anything else after it is a usage error.
 */
export function parseArgsAnywhere(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const first = parseArgs(argv, spec);
  if (!first.rest.length) return first;
  const second = parseArgs(first.rest, spec);
  if (second.file !== undefined || second.rest.length) throw new UsageError(`unexpected argument '${second.file ?? second.rest[0]}' after the file`);
  for (const [name, values] of second.options) {
    const merged = [...(first.options.get(name) ?? []), ...values];
    if (merged.length > 1 && !spec[name].repeatable) throw new UsageError(`option '--${name}' given more than once`);
    first.options.set(name, merged);
  }
  for (const flag of second.flags) first.flags.add(flag);
  return { ...first, rest: [] };
}

/** A `--name HOST:PORT` value (IPv6 in brackets), with a port from 0 to 65535. */
export function hostPortOption(name: string, value: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--${name} ${value}: expected HOST:PORT with a port from 0 to 65535 (IPv6 in brackets)`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** A `--name N` whole number, or `fallback` when the option is absent. */
export function wholeNumberOption(name: string, value: string | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || (!allowZero && Number(value) === 0)) throw new UsageError(`--${name}: expected a ${allowZero ? 'non-negative' : 'positive'} whole number, got '${value}'`);
  return Number(value);
}

/** `HOST[::GUEST]`; the guest path defaults to the host path as given. */
export function parseDirMapping(value: string): { hostPath: string; guestPath: string } {
  const sep = value.indexOf('::');
  const hostPath = sep >= 0 ? value.slice(0, sep) : value;
  const guestPath = sep >= 0 ? value.slice(sep + 2) : value;
  if (!hostPath || !guestPath) throw new UsageError(`bad directory mapping '${value}'; expected HOST[::GUEST]`);
  return { hostPath, guestPath };
}
