import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InvalidPolicy } from '../../errors.ts';
import { parsePolicy } from '../../security/policy.ts';
import { parseSize } from '../../security/units.ts';
import { McpServerWrapper, type McpToolPolicy } from '../../wrappers/mcp/mcp-server-wrapper.ts';
import { hostPortOption, parseArgsAnywhere, UsageError, wholeNumberOption, type OptionSpec } from '../args.ts';
import { flagValue, LIMIT_OPTIONS, POLICY_OPTIONS, runPolicy } from './run.ts';

export { exitFor } from '../exit-codes.ts';

export const MCP_HELP = `Usage: wasm-sandbox mcp [options] FILE.wasm [options]

Serves a sandboxed guest as a Model Context Protocol server:
  - a WASI command that is itself an MCP server (newline-delimited JSON-RPC on stdin/stdout), or
  - a WebAssembly component, each exported function becoming a tool (input schema from its WIT types).
Every tool call runs in a fresh instance under the policy and limits; a call that runs too long or
hits a limit is stopped and answered with an error result, and the server carries on. Grants come
only from the command line, --policy and --tools: no client can widen them.

The default transport is stdio: stdout then carries the protocol only; logs go to stderr.

Options:
  --http HOST:PORT        serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio
  --tools FILE            per-tool grants, JSON or YAML: { TOOL: { capabilities, resourceLimits } };
                          each section given replaces the server-wide one for that tool
  --audit-log FILE        JSON-lines audit log of every tool call and refusal (default: stderr)
  --max-concurrency N     tool calls running at once (default 4)
  --timeout DURATION      deadline per tool call (default 30s)
  --max-message-bytes SIZE
                          largest incoming message, a stdio line or an HTTP body (default 4MiB);
                          a larger one is answered with a JSON-RPC error and the server carries on
  --policy FILE, --dir, --ro-dir, --env, --max-memory, --fuel, --max-fds, --allow-net
                          as for 'wasm-sandbox run'

Examples:
  wasm-sandbox mcp --ro-dir ./docs::/docs server.wasm
  wasm-sandbox mcp tools.wasm --http 127.0.0.1:3000 --timeout 5s --tools tools.yaml
`;

const SPEC: Record<string, OptionSpec> = {
  ...POLICY_OPTIONS,
  ...LIMIT_OPTIONS,
  http: { value: true },
  tools: { value: true },
  'audit-log': { value: true },
  'max-concurrency': { value: true },
  'max-message-bytes': { value: true },
};

/** Reads a --tools file; relative host paths resolve against the file's directory, as in policy files. */
function loadToolPolicies(path: string): Record<string, McpToolPolicy> {
  const file = resolve(path);
  let doc: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    doc = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new InvalidPolicy('', `cannot read tools file ${file}: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new InvalidPolicy('', `${file} must map tool names to { capabilities, resourceLimits }`);
  const out: Record<string, McpToolPolicy> = {};
  for (const [tool, entry] of Object.entries(doc)) {
    let policy;
    try {
      policy = parsePolicy(entry ?? {}, dirname(file));
    } catch (err) {
      if (err instanceof InvalidPolicy) throw new InvalidPolicy(`/${tool}${err.path}`, err.message.replace(/^invalid policy at '[^']*': /, ''));
      throw err;
    }
    const given = (entry ?? {}) as Record<string, unknown>;
    out[tool] = {
      ...(given.capabilities !== undefined && { capabilities: policy.capabilities }),
      ...(given.resourceLimits !== undefined && { resourceLimits: policy.resourceLimits }),
    };
  }
  return out;
}

export async function mcpCommand(argv: string[]): Promise<number> {
  const args = parseArgsAnywhere(argv, SPEC);
  if (!args.file) throw new UsageError('mcp needs a FILE.wasm');
  const http = args.options.get('http')?.[0];
  const { capabilities, resourceLimits } = runPolicy(args.options, { cli: false });
  const toolsFile = args.options.get('tools')?.[0];
  const maxMessage = args.options.get('max-message-bytes')?.[0];
  const wrapper = new McpServerWrapper({ auditLog: args.options.get('audit-log')?.[0] ?? process.stderr });
  const id = await wrapper.startServer({
    path: args.file,
    transport: http ? { http: hostPortOption('http', http) } : 'stdio',
    capabilities,
    resourceLimits,
    tools: toolsFile ? loadToolPolicies(toolsFile) : undefined,
    maxConcurrency: wholeNumberOption('max-concurrency', args.options.get('max-concurrency')?.[0], 4),
    maxMessageBytes: maxMessage === undefined ? undefined : flagValue('max-message-bytes', parseSize, maxMessage),
  });
  const summary = wrapper.listServers().find((s) => s.id === id)!;
  // Never stdout: under stdio it carries the protocol and nothing else.
  process.stderr.write(`wasm-sandbox: MCP server for ${args.file} (${summary.kind}, ${summary.tools.length} tools: ${summary.tools.join(', ')}) on ${summary.url ?? 'stdio'}\n`);
  if (http && !/^(127\.|localhost$|::1$)/.test(hostPortOption('http', http).host)) {
    process.stderr.write('wasm-sandbox: warning: the MCP endpoint has no authentication; anyone who can reach this address can call its tools\n');
  }
  if (summary.skipped.length) process.stderr.write(`wasm-sandbox: not served as tools: ${summary.skipped.map((f) => `${f.function} (${f.reason})`).join(', ')}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      void wrapper.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // Under stdio the client closing our stdin is the end of the session.
    if (!http) process.stdin.once('end', stop);
  });
  return 0;
}
