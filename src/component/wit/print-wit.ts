/**
 * Prints the interfaces a component uses as WIT. jco's `componentWit` prints the root world only
 * (its imports and exports by name), so `component.wit()` appends these bodies as nested
 * `package ns:pkg@version { interface … }` blocks, which makes the text complete.
 */
import { functionRole, type ComponentInterfaces, type InterfaceInfo } from './interfaces.ts';
import { isValType, type FuncType, type TypeEntity, type ValType } from './wit-types.ts';

/** `ns:pkg/iface@1.2.3` → package `ns:pkg@1.2.3`, interface `iface`; null for unqualified names. */
export function splitInterfaceName(name: string): { pkg: string; iface: string } | null {
  const m = /^([^:/@]+:[^/@]+)\/([^@]+)(@.+)?$/.exec(name);
  if (!m) return null;
  return { pkg: `${m[1]}${m[3] ?? ''}`, iface: m[2] };
}

/** WIT keywords must be escaped with `%` when used as identifiers. */
const KEYWORDS = new Set([
  'use', 'type', 'func', 'u8', 'u16', 'u32', 'u64', 's8', 's16', 's32', 's64', 'f32', 'f64', 'char', 'bool', 'string', 'option',
  'result', 'list', 'tuple', 'record', 'flags', 'variant', 'enum', 'resource', 'own', 'borrow', 'static', 'constructor',
  'interface', 'world', 'import', 'export', 'package', 'include', 'with', 'as', 'from', 'future', 'stream', 'async',
  'error-context',
]);

function id(name: string): string {
  return KEYWORDS.has(name) ? `%${name}` : name;
}

/** `async ` before `func` for a WASI 0.3 async function. */
function asyncWord(type: FuncType): string {
  return type.async ? 'async ' : '';
}

class InterfacePrinter {
  private readonly ifaces: ComponentInterfaces;
  private readonly iface: InterfaceInfo;
  /** Local name of every type object the interface exports. */
  private readonly local = new Map<object, string>();
  private readonly uses = new Map<string, Set<string>>();

  constructor(ifaces: ComponentInterfaces, iface: InterfaceInfo) {
    this.ifaces = ifaces;
    this.iface = iface;
    for (const [name, t] of iface.types) if (!this.local.has(t)) this.local.set(t, name);
  }

  private use(fromIface: string, name: string, as: string): void {
    // Within one package an interface is named by its short name: the qualified form would make the
    // package depend on itself.
    const self = this.iface.name === null ? null : splitInterfaceName(this.iface.name);
    const other = splitInterfaceName(fromIface);
    const from = self && other && self.pkg === other.pkg ? id(other.iface) : fromIface;
    let set = this.uses.get(from);
    if (!set) this.uses.set(from, (set = new Set()));
    set.add(name === as ? id(name) : `${id(name)} as ${id(as)}`);
  }

  ref(t: ValType): string {
    const localName = this.local.get(t);
    if (localName !== undefined) return id(localName);
    const named = this.ifaces.names.get(t);
    if (named && named.iface !== null && named.iface !== this.iface.name) {
      this.use(named.iface, named.name, named.name);
      this.local.set(t, named.name);
      return id(named.name);
    }
    switch (t.kind) {
      case 'list': return t.length === undefined ? `list<${this.ref(t.element)}>` : `list<${this.ref(t.element)}, ${t.length}>`;
      case 'option': return `option<${this.ref(t.type)}>`;
      case 'tuple': return `tuple<${t.types.map((x) => this.ref(x)).join(', ')}>`;
      case 'result':
        if (!t.ok && !t.err) return 'result';
        if (!t.err) return `result<${this.ref(t.ok!)}>`;
        return `result<${t.ok ? this.ref(t.ok) : '_'}, ${this.ref(t.err)}>`;
      case 'own': return this.resourceRef(t.resource);
      case 'borrow': return `borrow<${this.resourceRef(t.resource)}>`;
      case 'future':
      case 'stream': return t.type ? `${t.kind}<${this.ref(t.type)}>` : t.kind;
      case 'record': return `record { ${t.fields.map((f) => `${id(f.name)}: ${this.ref(f.type)}`).join(', ')} }`;
      case 'variant': return `variant { ${t.cases.map((c) => (c.type ? `${id(c.name)}(${this.ref(c.type)})` : id(c.name))).join(', ')} }`;
      case 'enum': return `enum { ${t.names.map(id).join(', ')} }`;
      case 'flags': return `flags { ${t.names.map(id).join(', ')} }`;
      default: return t.kind;
    }
  }

  private resourceRef(r: object): string {
    const localName = this.local.get(r);
    if (localName !== undefined) return id(localName);
    const named = this.ifaces.names.get(r);
    if (named && named.iface !== null && named.iface !== this.iface.name) {
      this.use(named.iface, named.name, named.name);
      this.local.set(r, named.name);
      return id(named.name);
    }
    return named ? id(named.name) : '/* anonymous resource */';
  }

  private signature(f: FuncType, skipSelf: boolean): string {
    const params = (skipSelf ? f.params.slice(1) : f.params).map((p) => `${id(p.name)}: ${this.ref(p.type)}`).join(', ');
    return f.result ? `(${params}) -> ${this.ref(f.result)}` : `(${params})`;
  }

  private definition(name: string, t: TypeEntity, indent: string): string[] {
    const named = this.ifaces.names.get(t);
    if (named && named.iface !== null && named.iface !== this.iface.name) {
      this.use(named.iface, named.name, name);
      return [];
    }
    if (named && named.name !== name && this.iface.types.get(named.name) === t) {
      return [`${indent}type ${id(name)} = ${id(named.name)};`];
    }
    if (t.kind === 'resource') return this.resource(name, indent);
    if (!isValType(t)) return [];
    const inner = `${indent}  `;
    switch (t.kind) {
      case 'record':
        return [`${indent}record ${id(name)} {`, ...t.fields.map((f) => `${inner}${id(f.name)}: ${this.ref(f.type)},`), `${indent}}`];
      case 'variant':
        return [`${indent}variant ${id(name)} {`, ...t.cases.map((c) => `${inner}${id(c.name)}${c.type ? `(${this.ref(c.type)})` : ''},`), `${indent}}`];
      case 'enum':
        return [`${indent}enum ${id(name)} {`, ...t.names.map((n) => `${inner}${id(n)},`), `${indent}}`];
      case 'flags':
        return [`${indent}flags ${id(name)} {`, ...t.names.map((n) => `${inner}${id(n)},`), `${indent}}`];
      default: {
        // An alias of an anonymous type: print the structure, not the name being defined.
        this.local.delete(t);
        const body = this.ref(t);
        this.local.set(t, name);
        return [`${indent}type ${id(name)} = ${body};`];
      }
    }
  }

  private resource(name: string, indent: string): string[] {
    const members: string[] = [];
    for (const [fname, f] of this.iface.funcs) {
      const role = functionRole(fname);
      if (role.resource !== name) continue;
      if (role.kind === 'constructor') {
        const plain = f.type.result?.kind === 'own';
        const params = f.type.params.map((p) => `${id(p.name)}: ${this.ref(p.type)}`).join(', ');
        members.push(`${indent}  constructor(${params})${plain || !f.type.result ? '' : ` -> ${this.ref(f.type.result)}`};`);
      } else if (role.kind === 'method') {
        members.push(`${indent}  ${id(role.member)}: ${asyncWord(f.type)}func${this.signature(f.type, true)};`);
      } else {
        members.push(`${indent}  ${id(role.member)}: static ${asyncWord(f.type)}func${this.signature(f.type, false)};`);
      }
    }
    return members.length ? [`${indent}resource ${id(name)} {`, ...members, `${indent}}`] : [`${indent}resource ${id(name)};`];
  }

  print(indent: string, header: string): string[] {
    const body: string[] = [];
    for (const [name, t] of this.iface.types) body.push(...this.definition(name, t, `${indent}  `));
    for (const [name, f] of this.iface.funcs) {
      if (functionRole(name).kind !== 'function') continue;
      body.push(`${indent}  ${id(name)}: ${asyncWord(f.type)}func${this.signature(f.type, false)};`);
    }
    const uses = [...this.uses].map(([from, names]) => `${indent}  use ${from}.{${[...names].join(', ')}};`);
    return [`${indent}${header} {`, ...uses, ...body, `${indent}}`];
  }
}

/** Nested package blocks declaring every qualified interface the component imports or exports. */
export function printInterfaceBodies(ifaces: ComponentInterfaces): string {
  const packages = new Map<string, string[]>();
  const done = new Set<string>();
  for (const iface of [...ifaces.imports, ...ifaces.exports]) {
    if (iface.name === null || done.has(iface.name)) continue;
    const split = splitInterfaceName(iface.name);
    if (!split) continue;
    done.add(iface.name);
    const lines = new InterfacePrinter(ifaces, iface).print('  ', `interface ${id(split.iface)}`);
    const list = packages.get(split.pkg) ?? [];
    if (list.length) list.push('');
    list.push(...lines);
    packages.set(split.pkg, list);
  }
  const out: string[] = [];
  for (const [pkg, lines] of packages) out.push(`package ${pkg} {`, ...lines, '}', '');
  return out.join('\n');
}
