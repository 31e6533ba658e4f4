import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InvalidModule, ModuleNotFound } from '../../errors.ts';
import { isComponent } from '../../module/inspect.ts';
import { decodeComponent } from '../../component/wit/decode-component.ts';
import { describeComponent } from '../../component/wit/describe.ts';
import { componentInterfaces } from '../../component/wit/interfaces.ts';
import { exportDeclarations } from '../../component/wit/typescript-declarations.ts';
import { parseArgs, UsageError } from '../args.ts';

export { exitFor } from '../exit-codes.ts';

export const TYPES_HELP = `Usage: wasm-sandbox types [--out DIR] [--name NAME] FILE.wasm

Writes TypeScript declarations of what ComponentInstance.exports is for a WebAssembly component:
its interfaces by name (with and without @version), their functions by WIT and camelCase name,
each returning a Promise of the value as call() resolves it (a result as { tag, val }), and the
named WIT types. Use the main interface as the type argument:
  const instance = await runtime.instantiate<GreeterExports>(component);

Options:
  --out DIR     write NAME.d.ts into DIR (created if needed) instead of printing it
  --name NAME   the file's and the main interface's name (default: the file's base name)
`;

export async function typesCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const args = parseArgs(argv, { out: { value: true }, name: { value: true } });
  if (!args.file) throw new UsageError('types needs a FILE.wasm');
  if (args.rest.length) throw new UsageError(`unexpected arguments after the file: ${args.rest.join(' ')}`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(args.file);
  } catch (err) {
    throw new ModuleNotFound(args.file, `cannot read '${args.file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!isComponent(bytes)) throw new InvalidModule(`'${args.file}' is not a WebAssembly component; types are generated for components only`);
  const name = args.options.get('name')?.[0] ?? basename(args.file, extname(args.file));
  const text = exportDeclarations(describeComponent(componentInterfaces(decodeComponent(bytes))), name, basename(args.file));
  const dir = args.options.get('out')?.[0];
  if (dir === undefined) {
    out(text.trimEnd());
    return 0;
  }
  await mkdir(dir, { recursive: true });
  const target = join(dir, `${name}.d.ts`);
  await writeFile(target, text);
  out(target);
  return 0;
}
