#!/usr/bin/env node
import './engine-check-cli.ts';
import * as nodeModule from 'node:module';
import { importOptional } from '../optional-dependency.ts';
import { packageVersion } from '../package-info.ts';
import { exitFor } from './exit-codes.ts';

const HELP = `wasm-sandbox: run untrusted WebAssembly under least privilege and hard resource limits.

Usage:
  wasm-sandbox run [options] FILE [--] [ARGS...]        run a WASI command or wasi:cli component
                                                        (FILE: .wasm, .wat, or - for stdin)
  wasm-sandbox serve [options] FILE.wasm [options]      serve a sandboxed HTTP app (wasi:http or WAGI)
  wasm-sandbox mcp [options] FILE.wasm [options]        serve a WASI MCP server or a component as MCP tools
  wasm-sandbox inspect [--policy FILE] FILE.wasm        show imports, exports and unmet needs
  wasm-sandbox types [--out DIR] FILE.wasm              TypeScript declarations for a component
  wasm-sandbox help COMMAND                              help for one command
  wasm-sandbox --version

Nothing is granted unless asked for: no files, no environment, no network.
`;

interface Command {
  help: string;
  run: (argv: string[], out: (s: string) => void) => Promise<number>;
  /** The command's own: in the bundled CLI each command carries its own copies of the error classes. */
  exitFor: typeof exitFor;
}

// Start-up time is part of every `run`: V8's code cache spares re-compiling this package's modules on
// later starts (Node 22.1+), and each command module is loaded only when used.
// Looked up on the namespace: Node 22.0 lacks it, and a named import would fail to link there.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

/**
 * A reader that stops early (`wasm-sandbox types X.wasm | head`) closes the pipe under our output:
 * the next write fails with EPIPE, which Node raises as an unhandled stream error. Every command
 * then ends quietly, as command-line tools do. The handler is attached when a stream is first
 * used, not here: creating process.stdout costs a command that never touches it start-up time.
 */
function quietOnClosedPipe(name: 'stdout' | 'stderr'): void {
  const original = Object.getOwnPropertyDescriptor(process, name);
  if (!original?.get || !original.configurable) return;
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: original.enumerable,
    get() {
      const stream = original.get!.call(process) as NodeJS.WriteStream;
      stream.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') throw err;
        process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
      });
      Object.defineProperty(process, name, { configurable: true, enumerable: original.enumerable, writable: true, value: stream });
      return stream;
    },
  });
}
quietOnClosedPipe('stdout');
quietOnClosedPipe('stderr');

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => {
    const m = await import('./commands/run.ts');
    return { help: m.RUN_HELP, run: m.runCommand, exitFor: m.exitFor };
  },
  inspect: async () => {
    const m = await import('./commands/inspect.ts');
    return { help: m.INSPECT_HELP, run: m.inspectCommand, exitFor: m.exitFor };
  },
  serve: async () => {
    const m = await import('./commands/serve.ts');
    return { help: m.SERVE_HELP, run: m.serveCommand, exitFor: m.exitFor };
  },
  mcp: async () => {
    // The bundled command imports the MCP SDK and ajv statically: a missing one fails this import.
    const m = await importOptional(() => import('./commands/mcp.ts'));
    return { help: m.MCP_HELP, run: m.mcpCommand, exitFor: m.exitFor };
  },
  types: async () => {
    const m = await import('./commands/types.ts');
    return { help: m.TYPES_HELP, run: m.typesCommand, exitFor: m.exitFor };
  },
};

async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    out(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-V') {
    out(packageVersion());
    return 0;
  }
  if (command === 'help') {
    if (rest[0] === undefined) {
      out(HELP);
      return 0;
    }
    const named = COMMANDS[rest[0]];
    if (!named) {
      process.stderr.write(`wasm-sandbox: usage error: no command '${rest[0]}'; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
      return 2;
    }
    out((await named()).help);
    return 0;
  }
  const load = COMMANDS[command];
  if (!load) {
    process.stderr.write(`wasm-sandbox: unknown command '${command}'\n\n${HELP}`);
    return 2;
  }
  const cmd = await load();
  if (rest.length && (rest[0] === '--help' || rest[0] === '-h')) {
    out(cmd.help);
    return 0;
  }
  try {
    return await cmd.run(rest, out);
  } catch (err) {
    return fail(err, cmd.exitFor);
  }
}

function fail(err: unknown, map: typeof exitFor): number {
  const { status, message } = map(err);
  process.stderr.write(`wasm-sandbox: ${message}\n`);
  return status;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.exitCode = fail(err, exitFor);
}
