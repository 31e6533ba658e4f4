import { componentRequirements } from '../../component/component-requirements.ts';
import { decodeComponent } from '../../component/wit/decode-component.ts';
import { inspect } from '../../module/inspect.ts';
import type { FuncSignature, ModuleInfo } from '../../module/module-info.ts';
import { Capabilities } from '../../security/capabilities.ts';
import { loadPolicy } from '../../security/policy.ts';
import { unmetRequirements } from '../../security/requirements.ts';
import { ResourceLimits } from '../../security/resource-limits.ts';
import { parseArgs, UsageError } from '../args.ts';
import { readModuleSource } from '../module-source.ts';

export { exitFor } from '../exit-codes.ts';

export const INSPECT_HELP = `Usage: wasm-sandbox inspect [--policy FILE] [--json] FILE.wasm

Prints a module's imports, exports, memories and WASI version, and what it would use
that the policy does not grant (with no --policy: the minimal policy, which grants nothing).

Options:
  --policy FILE   policy file (JSON or YAML) to check the module against
  --json          print one JSON document instead of text
`;

function sig(s: FuncSignature | undefined): string {
  return s ? `(${s.params.join(', ')}) -> (${s.results.join(', ')})` : '';
}

function describe(info: ModuleInfo): string[] {
  const lines = [`kind: ${info.kind}`, `size: ${info.size} bytes`, `wasi: ${info.wasi ?? 'none'}`];
  if (info.kind === 'component') {
    lines.push('imports:', ...(info.componentImports ?? []).map((i) => `  ${i.name} (${i.kind})`));
    lines.push('exports:', ...(info.componentExports ?? []).map((e) => `  ${e.name} (${e.kind})`));
    return lines;
  }
  lines.push('imports:', ...info.imports.map((i) => `  ${i.module}.${i.name}: ${i.kind} ${sig(i.signature)}`));
  lines.push('exports:', ...info.exports.map((e) => `  ${e.name}: ${e.kind} ${sig(e.signature)}`));
  lines.push('memories:', ...info.memories.map((m, i) => `  ${i}: ${m.min}..${m.max ?? '∞'} pages${m.shared ? ' shared' : ''}${m.memory64 ? ' memory64' : ''}${m.imported ? ' imported' : ''}`));
  if (info.startFunction !== null) lines.push(`start function: ${info.startFunction}`);
  if (info.customSections.length) lines.push(`custom sections: ${info.customSections.join(', ')}`);
  return lines;
}

export async function inspectCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const args = parseArgs(argv, { policy: { value: true }, json: { value: false } });
  if (!args.file) throw new UsageError('inspect needs a FILE.wasm');
  if (args.rest.length) throw new UsageError(`unexpected arguments after the file: ${args.rest.join(' ')}`);
  const policyFile = args.options.get('policy')?.[0];
  const policy = policyFile ? loadPolicy(policyFile) : { capabilities: Capabilities.minimal(), resourceLimits: ResourceLimits.default() };
  // As `run` reads it: a binary, WAT text or `-`; a directory or another file is said to be one.
  const bytes = (await readModuleSource(args.file)).bytes();
  const info = inspect(bytes);
  const unmet = info.kind === 'core' ? unmetRequirements(info, policy.capabilities, policy.resourceLimits) : componentRequirements(decodeComponent(bytes), policy.capabilities);
  if (args.flags.has('json')) {
    out(JSON.stringify({ ...info, unmet }, null, 2));
    return 0;
  }
  const lines = describe(info);
  lines.push(unmet.length ? `not granted by ${policyFile ? 'the policy' : 'the minimal policy'}:` : 'everything it needs is granted');
  for (const u of unmet) lines.push(`  ${u.capability}: ${u.detail} (${u.imports.join(', ')})`);
  out(lines.join('\n'));
  return 0;
}
