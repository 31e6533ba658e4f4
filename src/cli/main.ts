#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { exitFor } from './exit-codes.ts';
import { INSPECT_HELP, inspectCommand } from './commands/inspect.ts';
import { RUN_HELP, runCommand } from './commands/run.ts';
import { TYPES_HELP, typesCommand } from './commands/types.ts';
import { SERVE_HELP, serveCommand } from './commands/serve.ts';

const HELP = `wasm-sandbox: run untrusted WebAssembly under least privilege and hard resource limits.

Usage:
  wasm-sandbox run [options] FILE.wasm [--] [ARGS...]   run a WASI command
  wasm-sandbox serve [options] FILE.wasm                serve a sandboxed HTTP app (WAGI)
  wasm-sandbox inspect [--policy FILE] FILE.wasm        show imports, exports and unmet needs
  wasm-sandbox types [--out DIR] FILE.wasm              TypeScript declarations for a component
  wasm-sandbox help COMMAND                              help for one command
  wasm-sandbox --version

Nothing is granted unless asked for: no files, no environment, no network.
`;

const COMMANDS: Record<string, { help: string; run: (argv: string[], out: (s: string) => void) => Promise<number> }> = {
  run: { help: RUN_HELP, run: runCommand },
  inspect: { help: INSPECT_HELP, run: inspectCommand },
  serve: { help: SERVE_HELP, run: serveCommand },
  types: { help: TYPES_HELP, run: typesCommand },
};

async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    out(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-V') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    out(pkg.version);
    return 0;
  }
  if (command === 'help') {
    out(COMMANDS[rest[0]]?.help ?? HELP);
    return 0;
  }
  const cmd = COMMANDS[command];
  if (!cmd) {
    process.stderr.write(`wasm-sandbox: unknown command '${command}'\n\n${HELP}`);
    return 2;
  }
  if (rest.length && (rest[0] === '--help' || rest[0] === '-h')) {
    out(cmd.help);
    return 0;
  }
  return cmd.run(rest, out);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  const { status, message } = exitFor(err);
  process.stderr.write(`wasm-sandbox: ${message}\n`);
  process.exitCode = status;
}
