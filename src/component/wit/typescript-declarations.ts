/**
 * TypeScript declarations for what `ComponentInstance.exports` is at run time, written from the same
 * description (`component.describe()`) the proxy is built from: the keys are the interface names
 * (`example:greeter/greet`, and without `@version` too), the members are the WIT names plus the
 * camelCase names of plain functions, every function returns a Promise, values are typed as the
 * value check and the lift produce them (see docs/components.md, "Values"), and a function returning
 * a `result` resolves to `{ tag, val }` rather than throwing.
 */
import type { ComponentDescription, FunctionDescription, InterfaceDescription, TypeDescription } from './describe.ts';
import { camelCase, pascalCase } from './interfaces.ts';
import { unversioned } from '../wasi/preview2-host.ts';

const TYPED: Record<string, string> = {
  u8: 'Uint8Array', s8: 'Int8Array', u16: 'Uint16Array', s16: 'Int16Array', u32: 'Uint32Array', s32: 'Int32Array',
  u64: 'BigUint64Array', s64: 'BigInt64Array', f32: 'Float32Array', f64: 'Float64Array',
};
const PRIMITIVE: Record<string, string> = {
  bool: 'boolean', s8: 'number', u8: 'number', s16: 'number', u16: 'number', s32: 'number', u32: 'number',
  f32: 'number', f64: 'number', s64: 'bigint', u64: 'bigint', char: 'string', string: 'string', 'error-context': 'unknown',
};

const quote = (s: string): string => JSON.stringify(s);
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (s: string): string => (IDENT.test(s) ? s : quote(s));

/** Named WIT types become type aliases; these are their TypeScript names, unique in the file. */
class Names {
  private readonly byOrigin = new Map<string, string>();
  private readonly taken = new Set<string>();
  readonly declarations: string[] = [];

  name(t: { name?: string; interface?: string }, define: () => string): string {
    const origin = `${t.interface ?? ''}#${t.name}`;
    let n = this.byOrigin.get(origin);
    if (n !== undefined) return n;
    n = pascalCase(t.name!);
    if (this.taken.has(n) && t.interface) n = pascalCase(`${t.interface.replace(/^.*\//, '').replace(/@.*$/, '')}-${t.name}`);
    for (let i = 2; this.taken.has(n); i++) n = `${pascalCase(t.name!)}${i}`;
    this.taken.add(n);
    this.byOrigin.set(origin, n);
    const where = t.interface ? ` (${t.interface})` : '';
    this.declarations.push(`/** WIT \`${t.name}\`${where}. */\nexport type ${n} = ${define()};`);
    return n;
  }
}

/** `param`: what a call accepts (numeric lists as arrays or typed arrays); otherwise what it returns. */
function typeText(t: TypeDescription, names: Names, param: boolean): string {
  const sub = (x: TypeDescription) => typeText(x, names, param);
  switch (t.kind) {
    case 'record':
      return names.name(t, () => (t.fields.length === 0 ? 'Record<string, never>' : `{ ${t.fields.map((f) => `${key(camelCase(f.name))}: ${sub(f.type)};`).join(' ')} }`));
    case 'variant':
      return names.name(t, () => t.cases.map((c) => (c.type ? `{ tag: ${quote(c.name)}; val: ${sub(c.type)} }` : `{ tag: ${quote(c.name)} }`)).join(' | ') || 'never');
    case 'enum':
      return names.name(t, () => t.cases.map(quote).join(' | ') || 'never');
    case 'flags':
      return names.name(t, () => `{ ${t.flags.map((f) => `${key(camelCase(f))}?: boolean;`).join(' ')} }`);
    case 'list': {
      const typed = t.length === undefined ? TYPED[t.element.kind] : undefined;
      if (typed && !param) return typed;
      const array = `${wrap(sub(t.element))}[]`;
      return typed ? `${array} | ${typed}` : array;
    }
    case 'tuple':
      return `[${t.types.map(sub).join(', ')}]`;
    case 'option':
      return `${wrap(sub(t.type))} | undefined`;
    case 'result':
      return `{ tag: 'ok'; val: ${t.ok ? sub(t.ok) : 'undefined'} } | { tag: 'err'; val: ${t.err ? sub(t.err) : 'undefined'} }`;
    case 'own':
    case 'borrow':
      return names.name({ name: t.resource, interface: t.interface }, () => `{ readonly [resource]: ${quote(`${t.interface ? `${t.interface}#` : ''}${t.resource}`)} }`);
    case 'future':
    case 'stream':
      return 'unknown';
    default:
      return PRIMITIVE[t.kind] ?? 'unknown';
  }
}

function wrap(text: string): string {
  return /[|&]/.test(text) ? `(${text})` : text;
}

function signature(f: FunctionDescription, names: Names): string {
  const params = f.params.map((p) => `${key(camelCase(p.name))}: ${typeText(p.type, names, true)}`).join(', ');
  return `(${params}) => Promise<${f.result ? typeText(f.result, names, false) : 'void'}>`;
}

/** The members of one interface's object (or of the root), as `exports` has them. */
function members(functions: FunctionDescription[], names: Names, indent: string): string[] {
  const out: string[] = [];
  for (const f of functions) {
    const sig = signature(f, names);
    out.push(`${indent}readonly ${key(f.name)}: ${sig};`);
    if (f.kind === 'function' && camelCase(f.name) !== f.name) out.push(`${indent}readonly ${key(camelCase(f.name))}: ${sig};`);
  }
  return out;
}

function interfaceTypeName(iface: InterfaceDescription): string {
  return pascalCase(unversioned(iface.name!).replace(/[:/]/g, '-'));
}

/**
 * The declaration file: `<Name>Exports` (the type argument of `runtime.instantiate<…>()` and
 * `ComponentInstance<…>`), one interface per exported WIT interface, and the named WIT types.
 */
export function exportDeclarations(description: ComponentDescription, name: string, source: string): string {
  const names = new Names();
  const root = pascalCase(name.replace(/[^A-Za-z0-9]+/g, '-')) || 'Component';
  const ifaceBlocks: string[] = [];
  const rootLines: string[] = [];
  for (const iface of description.exports) {
    if (iface.name === null) {
      rootLines.push(...members(iface.functions, names, '  '));
      continue;
    }
    const typeName = `${interfaceTypeName(iface)}Exports`;
    ifaceBlocks.push(`/** The functions of \`${iface.name}\`. */\nexport interface ${typeName} {\n${members(iface.functions, names, '  ').join('\n')}\n}`);
    rootLines.push(`  readonly ${quote(iface.name)}: ${typeName};`);
    const bare = unversioned(iface.name);
    if (bare !== iface.name) rootLines.push(`  readonly ${quote(bare)}: ${typeName};`);
  }
  const usesResources = names.declarations.some((d) => d.includes('[resource]'));
  return [
    `// Generated by \`wasm-sandbox types\` from ${source}: what ComponentInstance.exports is at run time.`,
    `// Use: const instance = await runtime.instantiate<${root}Exports>(component);`,
    ...(usesResources ? ['', '/** Resource handles are objects the component handed out; this brand keeps kinds apart. */', 'declare const resource: unique symbol;'] : []),
    '',
    `/** \`instance.exports\` of ${source}. */`,
    `export interface ${root}Exports {\n${rootLines.join('\n')}\n}`,
    '',
    ...ifaceBlocks.flatMap((b) => [b, '']),
    ...names.declarations.flatMap((d) => [d, '']),
  ].join('\n').trimEnd() + '\n';
}
