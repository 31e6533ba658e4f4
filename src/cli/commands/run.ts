import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { InvalidPolicy } from '../../errors.ts';
import { inspect } from '../../module/inspect.ts';
import type { FuncSignature } from '../../module/module-info.ts';
import type { WasmResult, WasmValue } from '../../runtime/types.ts';
import { Capabilities, type NetworkPolicy, type Preopen } from '../../security/capabilities.ts';
import { loadPolicy, type Policy } from '../../security/policy.ts';
import { ResourceLimits, WASM_PAGE_BYTES, type ResourceLimitsInit } from '../../security/resource-limits.ts';
import { parseDuration, parseSize } from '../../security/units.ts';
import { CliWrapper } from '../../wrappers/cli-wrapper.ts';
import { formatHostPort } from '../../host/network.ts';
import { listenerHost, listenerRefusal } from '../../wasi/sockets.ts';
import type { ListenerSpec } from '../../wasi/socket-protocol.ts';
import { hostPortOption, parseArgs, parseDirMapping, UsageError, type OptionSpec } from '../args.ts';
import { formatResults, invokedSignature, parseInvokeArgs } from '../invoke-values.ts';
import { readModuleSource } from '../module-source.ts';
import { printFailure, printReport } from '../run-report.ts';
import { defaultCacheDir } from '../../cache-dir.ts';

export { exitFor } from '../exit-codes.ts';

export const RUN_HELP = `Usage: wasm-sandbox run [options] FILE [--] [ARGS...]
       wasm-sandbox run [options] --invoke FUNC FILE [ARGS...]

Runs a WASI command: a preview1 module, or a wasi:cli/run component (WASI 0.2). FILE is a .wasm
binary, WAT text (.wat, compiled with the 'wabt' package), or - for standard input. The guest sees
ARGS after its argv[0], which is FILE's base name unless --argv0 says otherwise. Nothing is granted
unless asked for: no directory (not even the current one), no environment variable, no network.
stdin/stdout/stderr, clocks, randomness and exit are available, as for any command-line program.

Options:
  --dir HOST[::GUEST]     preopen HOST read-write, seen by the guest as GUEST (default: HOST)
  --ro-dir HOST[::GUEST]  preopen HOST read-only
  --env NAME=VALUE        set a variable for the guest
  --env NAME              pass one host variable through
  --max-memory SIZE       memory limit, in bytes or with a unit: 64MiB, 1GiB
  --fuel N                instruction budget (one unit is about one wasm instruction)
  --timeout DURATION      wall-clock limit: 500ms, 2s, 1m, or plain milliseconds
  --max-fds N             most file descriptors the guest may hold open
  --allow-net HOST:PORT   allow network access to HOST:PORT (repeatable); a host name grants
                          only its public addresses, loopback and private ones need the address
  --listen HOST:PORT      pre-open a TCP listener for the guest (repeatable; HOST an IP address
                          or localhost, IPv6 in brackets),
                          like wasmtime's --tcplisten: the guest gets it as a socket descriptor
                          after the --dir/--ro-dir preopens and serves it with accept/recv/send.
                          Implies --allow-net for that address. Clients must be granted too: one
                          on 127.0.0.1 serves clients from 127.0.0.1, one on 0.0.0.0 or [::] anyone.
                          Port 0 picks a free port; each listener is announced on stderr:
                          'wasm-sandbox: listening on HOST:PORT (fd N)'
  --policy FILE           policy file (JSON or YAML), laid over the defaults above: what it names
                          replaces them, what it leaves out keeps them; the flags add to it or
                          override it
  --invoke FUNC           call the export FUNC instead of running the command, with ARGS as its
                          arguments (parsed by its parameter types; i64 in full), and print its
                          results one a line (core modules; a reactor's _initialize runs first)
  --argv0 NAME            the guest's argv[0] (default: FILE's base name)
  --stdin FILE            feed FILE to the guest's stdin instead of the terminal's
  --json                  print a final JSON report (exit code, error, metrics) on stderr
  --no-cache              read and write nothing in the cache directory, where the instrumented
                          module and the CLI's compiled code are kept between runs
                          ($WASM_SANDBOX_CACHE_DIR, else $XDG_CACHE_HOME/wasm-sandbox or ~/.cache/wasm-sandbox)
  -h, --help              this help

Exit status:
  the guest's exit code, or
  124  the timeout passed
  134  the guest trapped (unreachable, out-of-bounds access, stack overflow, ...); the guest's
       frames are printed on stderr, with the module's own function names and offsets
  137  a resource limit was hit (memory, fuel, descriptors, output, ...)
  126  the module cannot run (invalid, not WebAssembly, missing imports, not allowed by the policy)
  127  the module file does not exist
  2    usage or policy error

Examples:
  wasm-sandbox run hello.wasm
  wasm-sandbox run --ro-dir ./data::/data --env LANG=C cat.wasm -- /data/notes.txt
  wasm-sandbox run --max-memory 64MiB --timeout 2s --fuel 100000000 untrusted.wasm
  wasm-sandbox run --policy policy.yaml --json tool.wasm --verbose
  wasm-sandbox run --listen 127.0.0.1:8080 server.wasm
  wasm-sandbox run --invoke add math.wasm 5 3
  wasm-sandbox run --ro-dir ./data::/data tool-component.wasm -- --input /data/x
  cat module.wat | wasm-sandbox run - arg1
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
  invoke: { value: true },
  argv0: { value: true },
};

/** The usage error for a flag whose value the policy layer refused, naming the flag instead of a policy path. */
function flagError(name: string, value: string, err: unknown): never {
  if (err instanceof InvalidPolicy) throw new UsageError(`--${name} ${value}: ${err.message.replace(/^invalid policy at '[^']*': /, '')}`);
  throw err;
}

/** One flag's value parsed; a refusal names the flag. */
export function flagValue<T>(name: string, parse: (v: string, path: string) => T, value: string): T {
  try {
    return parse(value, `--${name}`);
  } catch (err) {
    flagError(name, value, err);
  }
}

function count(value: string, path: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidPolicy(path, `expected a whole number, got '${value}'`);
  return Number(value);
}

/** An allow list with `entries` added to what `network` allows by entries (its nameservers kept); 'none' becomes just `entries`. */
function allowAlso(network: NetworkPolicy, entries: readonly string[]): NetworkPolicy {
  return typeof network === 'object' ? { ...network, allow: [...network.allow, ...entries] } : { allow: [...entries] };
}

function memoryFlag(value: string, path: string): number {
  const bytes = parseSize(value, path);
  // A bare small number is a forgotten unit, not a wish for a guest that cannot hold one page.
  if (bytes > 0 && bytes < WASM_PAGE_BYTES) throw new InvalidPolicy(path, `${bytes} byte${bytes === 1 ? '' : 's'} is less than one 64 KiB wasm page; give a unit, e.g. 64MiB`);
  return bytes;
}

/** Each limit flag and the change it makes; applied one at a time so that a refusal names its flag. */
const LIMIT_FLAGS: [string, (value: string, path: string) => ResourceLimitsInit][] = [
  ['max-memory', (v, p) => ({ memory: { maxMemoryBytes: memoryFlag(v, p) } })],
  ['fuel', (v, p) => ({ cpu: { fuel: count(v, p) } })],
  ['timeout', (v, p) => ({ time: { callTimeoutMs: parseDuration(v, p) } })],
  ['max-fds', (v, p) => ({ io: { maxFileDescriptors: count(v, p) } })],
];

/**
 * The starting point of the commands that run guests. A command-line program gets stdio, clocks,
 * randomness and exit (`cli`), and runs as long and writes as much as it needs; a server's guest
 * gets clocks, randomness and stderr for its logs.
 */
function commandDefaults(cli: boolean): Policy {
  return {
    capabilities: cli ? Capabilities.cli() : Capabilities.minimal().with({ clock: 'real', random: 'crypto', stdio: { stdin: 'null', stdout: 'null', stderr: 'inherit' } }),
    resourceLimits: ResourceLimits.default().with({ time: { callTimeoutMs: null, ...(cli && { initTimeoutMs: null }) }, ...(cli && { io: { maxOutputBytes: null } }) }),
    serve: {},
  };
}

/**
 * Builds a policy from the command's defaults, --policy laid over them (what the file names
 * replaces the default, what it leaves out keeps it), then the flags added to that.
 */
export function runPolicy(options: Map<string, string[]>, defaults: { cli: boolean } = { cli: true }): Policy {
  const policyFile = options.get('policy')?.[0];
  const base = policyFile ? loadPolicy(policyFile, commandDefaults(defaults.cli)) : commandDefaults(defaults.cli);
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
  const network = allow ? allowAlso(base.capabilities.network, allow) : base.capabilities.network;
  const capabilities = base.capabilities.with({ filesystem: preopens, env: { set, inherit }, network });

  let resourceLimits = base.resourceLimits;
  for (const [name, change] of LIMIT_FLAGS) {
    const value = options.get(name)?.[0];
    if (value === undefined) continue;
    try {
      resourceLimits = resourceLimits.with(change(value, `--${name}`));
    } catch (err) {
      flagError(name, value, err);
    }
  }
  return { capabilities, resourceLimits, serve: base.serve };
}

/**
 * The listeners `--listen` asks for, and the capabilities widened to allow them: asking for a
 * listener is granting it, as with wasmtime's --tcplisten. Exported for tests.
 */
export function listenGrant(values: readonly string[], capabilities: Capabilities): { listeners: ListenerSpec[]; capabilities: Capabilities } {
  const listeners = values.map((v) => {
    const { host, port } = hostPortOption('listen', v);
    const address = listenerHost(host);
    if (address === undefined) throw new UsageError(`--listen ${v}: the host must be an IP address or localhost`);
    return { host: address, port };
  });
  const network = capabilities.network;
  const missing = listeners.filter((l) => listenerRefusal(l, network) !== undefined);
  if (missing.length === 0) return { listeners, capabilities };
  // 'loopback' cannot be written as an allow list, so it cannot be widened by one address.
  if (network === 'loopback') {
    throw new UsageError(`--listen ${formatHostPort(missing[0].host, missing[0].port)}: the policy grants only loopback networking; grant this address in the policy instead`);
  }
  return { listeners, capabilities: capabilities.with({ network: allowAlso(network, missing.map((l) => formatHostPort(l.host, l.port))) }) };
}

/** The guest's standard input: --stdin FILE, else the terminal's (unless the module itself came from there). */
function guestStdin(file: string | undefined, moduleFromStdin: boolean): Uint8Array | undefined {
  if (file === undefined) return moduleFromStdin ? new Uint8Array(0) : undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`--stdin ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Says on stderr what the policy takes away that a user of `run` would otherwise look for. */
function noteStdio(capabilities: Capabilities): void {
  if (capabilities.stdio.stdout === 'null') process.stderr.write("wasm-sandbox: note: the policy gives the guest no stdout (capabilities.stdio.stdout is 'null'); what it prints is discarded\n");
}

export async function runCommand(argv: string[]): Promise<number> {
  // A trap's backtrace is as deep as V8's stack capture (10 frames by default); wasmtime prints them all.
  Error.stackTraceLimit = Math.max(Error.stackTraceLimit, 100);
  const args = parseArgs(argv, SPEC);
  if (!args.file) throw new UsageError('run needs a FILE.wasm');
  const policy = runPolicy(args.options);
  const { listeners, capabilities: granted } = listenGrant(args.options.get('listen') ?? [], policy.capabilities);
  const resourceLimits = policy.resourceLimits;
  const stdin = guestStdin(args.options.get('stdin')?.[0], args.file === '-');
  const capabilities = stdin ? granted.with({ stdio: { ...granted.stdio, stdin: 'capture' } }) : granted;
  const source = await readModuleSource(args.file);
  // The guest sees the name it was run by, never the host directory it lives in.
  const programName = args.options.get('argv0')?.[0] ?? basename(args.file);
  const invoke = args.options.get('invoke')?.[0];
  const json = args.flags.has('json');
  noteStdio(capabilities);

  if (source.kind === 'component') {
    if (invoke !== undefined) throw new UsageError('--invoke calls an export of a core module; a component runs its wasi:cli/run');
    if (listeners.length) throw new UsageError('--listen pre-opens sockets for core modules; a component opens its own through wasi:sockets (grant them with --allow-net)');
    // Loaded only for components; in the bundled CLI it is a file of its own, which reports its own failures.
    const { runComponentCommand } = await import('./run-component.ts');
    return runComponentCommand(source, {
      capabilities: capabilities.withArgs([...capabilities.args, ...args.rest]),
      resourceLimits, programName, stdin, cache: !args.flags.has('no-cache'), json, moduleName: basename(args.file),
    });
  }

  let call: { name: string; args: WasmValue[]; sig: FuncSignature } | undefined;
  if (invoke !== undefined) {
    const sig = invokedSignature(inspect(source.bytes()), invoke);
    call = { name: invoke, args: parseInvokeArgs(invoke, sig, args.rest), sig };
  }
  const wrapper = new CliWrapper({ cacheDir: args.flags.has('no-cache') ? undefined : defaultCacheDir() });
  // Size first: touching process.stderr builds a stream, which loads node:stream (~2 ms of every start).
  const progress = source.size > 4 * 1024 * 1024 && process.stderr.isTTY;
  const module = source.path !== undefined ? { path: source.path } : { bytes: source.bytes() };
  try {
    if (progress) process.stderr.write(`compiling ${args.file} (${(source.size / 1048576).toFixed(1)} MiB)…`);
    await wrapper.load(module);
    if (progress) process.stderr.write('\r\x1b[K');
    const result = await wrapper.runCliApp({
      ...module,
      args: call ? [] : args.rest,
      stdin,
      capabilities,
      resourceLimits,
      programName,
      listeners,
      onListening: (bound) => {
        for (const l of bound) process.stderr.write(`wasm-sandbox: listening on ${formatHostPort(l.host, l.port)} (fd ${l.fd})\n`);
      },
      ...(call && { invoke: call }),
    });
    if (capabilities.stdio.stdout === 'capture') process.stdout.write(result.stdout);
    if (capabilities.stdio.stderr === 'capture') process.stderr.write(result.stderr);
    if (call && !result.error) for (const line of formatResults(call.sig, result.results as WasmResult)) process.stdout.write(`${line}\n`);
    const status = result.error ? printFailure(result.error, basename(args.file)) : result.exitCode ?? 1;
    if (json) printReport(status, result.exitCode, result.error, result.metrics);
    return status;
  } finally {
    await wrapper.close();
  }
}
