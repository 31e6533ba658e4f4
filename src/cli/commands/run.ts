import { readFileSync, statSync } from 'node:fs';
import { InvalidPolicy, ModuleNotFound } from '../../errors.ts';
import { Capabilities, type Preopen } from '../../security/capabilities.ts';
import { loadPolicy } from '../../security/policy.ts';
import { ResourceLimits } from '../../security/resource-limits.ts';
import { parseDuration, parseSize } from '../../security/units.ts';
import { CliWrapper } from '../../wrappers/cli-wrapper.ts';
import { networkAllows } from '../../component/wasi/network-policy.ts';
import type { ListenerSpec } from '../../wasi/socket-protocol.ts';
import { hostPortOption, parseArgs, parseDirMapping, UsageError, type OptionSpec } from '../args.ts';
import { exitFor } from '../exit-codes.ts';
import { defaultCacheDir } from '../../cache-dir.ts';

export { exitFor } from '../exit-codes.ts';

export const RUN_HELP = `Usage: wasm-sandbox run [options] FILE.wasm [--] [ARGS...]

Runs a WASI (preview1) command. Nothing is granted unless asked for: no directory (not even the
current one), no environment variable, no network. stdin/stdout/stderr, clocks and randomness are
available, as for any command-line program.

Options:
  --dir HOST[::GUEST]     preopen HOST read-write, seen by the guest as GUEST (default: HOST)
  --ro-dir HOST[::GUEST]  preopen HOST read-only
  --env NAME=VALUE        set a variable for the guest
  --env NAME              pass one host variable through
  --max-memory SIZE       memory limit, in bytes or with a unit: 64MiB, 1GiB
  --fuel N                instruction budget (one unit is about one wasm instruction)
  --timeout DURATION      wall-clock limit: 500ms, 2s, 1m, or plain milliseconds
  --max-fds N             most file descriptors the guest may hold open
  --allow-net HOST:PORT   allow network access to HOST:PORT (repeatable)
  --listen HOST:PORT      pre-open a TCP listener for the guest (repeatable; IPv6 in brackets),
                          like wasmtime's --tcplisten: the guest gets it as a socket descriptor
                          after the --dir/--ro-dir preopens and serves it with accept/recv/send.
                          Implies --allow-net for that address. Port 0 picks a free port; each
                          listener is announced on stderr: 'wasm-sandbox: listening on HOST:PORT (fd N)'
  --policy FILE           policy file (JSON or YAML); the flags above add to it or override it
  --stdin FILE            feed FILE to the guest's stdin instead of the terminal's
  --json                  print a final JSON report (exit code, error, metrics) on stderr
  --no-cache              read and write nothing in the cache directory, where the instrumented
                          module and the CLI's compiled code are kept between runs
                          ($WASM_SANDBOX_CACHE_DIR, else $XDG_CACHE_HOME/wasm-sandbox or ~/.cache/wasm-sandbox)
  -h, --help              this help

Exit status:
  the guest's exit code, or
  124  the timeout passed
  134  the guest trapped (unreachable, out-of-bounds access, stack overflow, ...)
  137  a resource limit was hit (memory, fuel, descriptors, output, ...)
  126  the module cannot run (invalid, missing imports, not allowed by the policy)
  127  the module file does not exist
  2    usage or policy error

Examples:
  wasm-sandbox run hello.wasm
  wasm-sandbox run --ro-dir ./data::/data --env LANG=C cat.wasm -- /data/notes.txt
  wasm-sandbox run --max-memory 64MiB --timeout 2s --fuel 100000000 untrusted.wasm
  wasm-sandbox run --policy policy.yaml --json tool.wasm --verbose
  wasm-sandbox run --listen 127.0.0.1:8080 server.wasm
`;

/** Options that grant capabilities, shared by the commands that run guests. */
export const POLICY_OPTIONS: Record<string, OptionSpec> = {
  dir: { value: true, repeatable: true },
  'ro-dir': { value: true, repeatable: true },
  env: { value: true, repeatable: true },
  'allow-net': { value: true, repeatable: true },
  policy: { value: true },
};

/** Options that set resource limits, shared likewise. */
export const LIMIT_OPTIONS: Record<string, OptionSpec> = {
  'max-memory': { value: true },
  fuel: { value: true },
  timeout: { value: true },
  'max-fds': { value: true },
};

const SPEC: Record<string, OptionSpec> = {
  ...POLICY_OPTIONS,
  ...LIMIT_OPTIONS,
  stdin: { value: true },
  json: { value: false },
  'no-cache': { value: false },
  listen: { value: true, repeatable: true },
};

export function flagValue<T>(name: string, parse: (v: string, path: string) => T, value: string): T {
  try {
    return parse(value, `--${name}`);
  } catch (err) {
    if (err instanceof InvalidPolicy) throw new UsageError(`--${name}: ${err.message.replace(/^invalid policy at '[^']*': /, '')}`);
    throw err;
  }
}

function count(value: string, path: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidPolicy(path, `expected a whole number, got '${value}'`);
  return Number(value);
}

/**
 * Builds a policy from --policy plus the flags. Without --policy a command-line program gets stdio,
 * clocks and randomness (`cli`); a server's guest gets clocks, randomness and stderr for its logs.
 */
export function runPolicy(options: Map<string, string[]>, defaults: { cli: boolean } = { cli: true }): { capabilities: Capabilities; resourceLimits: ResourceLimits } {
  const policyFile = options.get('policy')?.[0];
  const base = policyFile
    ? loadPolicy(policyFile)
    : {
        capabilities: defaults.cli ? Capabilities.cli() : Capabilities.minimal().with({ clock: 'real', random: 'crypto', stdio: { stdin: 'null', stdout: 'null', stderr: 'inherit' } }),
        // A command-line program runs as long and writes as much as it needs unless a flag or policy says otherwise.
        resourceLimits: ResourceLimits.default().with({ time: { callTimeoutMs: null }, ...(defaults.cli && { io: { maxOutputBytes: null } }) }),
      };
  const preopens: Preopen[] = [...base.capabilities.filesystem];
  for (const [flag, mode] of [['dir', 'read-write'], ['ro-dir', 'read']] as const) {
    for (const v of options.get(flag) ?? []) {
      const { hostPath, guestPath } = parseDirMapping(v);
      let isDir = false;
      try {
        isDir = statSync(hostPath).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) throw new UsageError(`--${flag} ${v}: '${hostPath}' is not a directory`);
      preopens.push({ hostPath, guestPath, mode });
    }
  }
  const set: Record<string, string> = { ...base.capabilities.env.set };
  const inherit = [...base.capabilities.env.inherit];
  for (const v of options.get('env') ?? []) {
    const eq = v.indexOf('=');
    if (eq === 0) throw new UsageError(`--env ${v}: missing variable name`);
    if (eq > 0) set[v.slice(0, eq)] = v.slice(eq + 1);
    else inherit.push(v);
  }
  const allow = options.get('allow-net');
  const network = allow ? { allow: [...(typeof base.capabilities.network === 'object' ? base.capabilities.network.allow : []), ...allow] } : base.capabilities.network;
  const capabilities = base.capabilities.with({ filesystem: preopens, env: { set, inherit }, network });

  const memory = options.get('max-memory')?.[0];
  const fuel = options.get('fuel')?.[0];
  const timeout = options.get('timeout')?.[0];
  const fds = options.get('max-fds')?.[0];
  const resourceLimits = base.resourceLimits.with({
    ...(memory !== undefined && { memory: { maxMemoryBytes: flagValue('max-memory', parseSize, memory) } }),
    ...(fuel !== undefined && { cpu: { fuel: flagValue('fuel', count, fuel) } }),
    ...(timeout !== undefined && { time: { callTimeoutMs: flagValue('timeout', parseDuration, timeout) } }),
    ...(fds !== undefined && { io: { maxFileDescriptors: flagValue('max-fds', count, fds) } }),
  });
  return { capabilities, resourceLimits };
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The listeners `--listen` asks for, and the capabilities widened to allow them: asking for a
 * listener is granting it, as with wasmtime's --tcplisten. Exported for tests.
 */
export function listenGrant(values: readonly string[], capabilities: Capabilities): { listeners: ListenerSpec[]; capabilities: Capabilities } {
  const listeners = values.map((v) => hostPortOption('listen', v));
  const network = capabilities.network;
  const missing = listeners.filter((l) => !networkAllows(network, l.host, l.port));
  if (missing.length === 0) return { listeners, capabilities };
  // 'loopback' cannot be written as an allow list, so it cannot be widened by one address.
  if (network === 'loopback') {
    throw new UsageError(`--listen ${hostPort(missing[0].host, missing[0].port)}: the policy grants only loopback networking; grant this address in the policy instead`);
  }
  const allow = [...(typeof network === 'object' ? network.allow : []), ...missing.map((l) => hostPort(l.host, l.port))];
  return { listeners, capabilities: capabilities.with({ network: { allow } }) };
}

export async function runCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, SPEC);
  if (!args.file) throw new UsageError('run needs a FILE.wasm');
  const policy = runPolicy(args.options);
  const { listeners, capabilities } = listenGrant(args.options.get('listen') ?? [], policy.capabilities);
  const resourceLimits = policy.resourceLimits;
  const stdinFile = args.options.get('stdin')?.[0];
  let stdin: Uint8Array | undefined;
  if (stdinFile !== undefined) {
    try {
      stdin = readFileSync(stdinFile);
    } catch (err) {
      throw new UsageError(`--stdin ${stdinFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  let size = 0;
  try {
    size = statSync(args.file).size;
  } catch (err) {
    throw new ModuleNotFound(args.file, `cannot read '${args.file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const wrapper = new CliWrapper({ cacheDir: args.flags.has('no-cache') ? undefined : defaultCacheDir() });
  // Size first: touching process.stderr builds a stream, which loads node:stream (~2 ms of every start).
  const progress = size > 4 * 1024 * 1024 && process.stderr.isTTY;
  try {
    if (progress) process.stderr.write(`compiling ${args.file} (${(size / 1048576).toFixed(1)} MiB)…`);
    await wrapper.load({ path: args.file });
    if (progress) process.stderr.write('\r\x1b[K');
    const result = await wrapper.runCliApp({
      path: args.file,
      args: args.rest,
      stdin,
      capabilities: stdin ? capabilities.with({ stdio: { ...capabilities.stdio, stdin: 'capture' } }) : capabilities,
      resourceLimits,
      programName: args.file,
      listeners,
      onListening: (bound) => {
        for (const l of bound) process.stderr.write(`wasm-sandbox: listening on ${hostPort(l.host, l.port)} (fd ${l.fd})\n`);
      },
    });
    const failure = result.error ? exitFor(result.error) : undefined;
    if (failure) process.stderr.write(`wasm-sandbox: ${failure.message}\n`);
    if (args.flags.has('json')) {
      process.stderr.write(`${JSON.stringify({ exitCode: result.exitCode, status: failure?.status ?? result.exitCode, error: result.error ? { code: result.error.code, message: result.error.message } : null, metrics: result.metrics })}\n`);
    }
    return failure?.status ?? result.exitCode ?? 1;
  } finally {
    await wrapper.close();
  }
}
