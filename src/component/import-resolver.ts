/**
 * Builds the import object jco's `instantiate` reads: `wasi:*` interfaces from our preview2 host,
 * everything else from the embedder, either as plain JavaScript (functions and resource classes
 * named the way jco names them) or as another component instance whose exports are wired in after
 * checking that their types match exactly. Whatever is missing is reported all at once. What the
 * embedder supplies is a host function grant like a core module's imports, decided by the core
 * (`requireHostFunction`): `iface.function` for an interface's function (unversioned, e.g.
 * `example:kv/store.get`), `iface.resource` for a resource's methods, `$root.name` for a function
 * the world imports directly, `iface.*` for a whole interface.
 */
import { InvalidArguments, MissingImports, type MissingImport } from '../errors.ts';
import { requireHostFunction } from '../host/grants.ts';
import type { Capabilities } from '../security/capabilities.ts';
import type { ComponentModule } from './component-module.ts';
import type { Item } from './wit/decode-component.ts';
import { camelCase, functionRole, pascalCase } from './wit/interfaces.ts';
import { funcMismatch } from './wit/type-match.ts';
import { Preview2Host, unversioned } from './wasi/preview2-host.ts';

/**
 * What a component instance offers another one that imports from it.
 * @internal
 */
export interface ImportProvider {
  readonly component: ComponentModule;
  /** Calls an export by path without re-checking arguments (the importer's glue already typed them). */
  callFromComponent(path: string, args: unknown[]): unknown;
  /** jco's export object for an exported interface (resource classes are taken from it). */
  exportObject(name: string): Record<string, unknown> | undefined;
}

export function isImportProvider(v: unknown): v is ImportProvider {
  return typeof v === 'object' && v !== null && typeof (v as ImportProvider).callFromComponent === 'function' && 'component' in v;
}

/** The members jco reads from an imported interface: functions (camelCase) and resource classes (PascalCase). */
function requiredMembers(component: ComponentModule, name: string, item: Item): { member: string; kind: string }[] {
  if (item.sort === 'func') return [{ member: name, kind: 'func' }];
  if (item.sort !== 'instance') return [];
  const out = new Map<string, string>();
  for (const [member, m] of item.instance.exports) {
    if (m.sort === 'func') {
      const role = functionRole(member);
      if (role.resource === undefined) out.set(camelCase(member), 'func');
      else out.set(pascalCase(role.resource), 'resource');
    } else if (m.sort === 'type' && m.type.kind === 'resource') {
      // Aliases (`type headers = fields`) name the same class; only resources defined here are read from here.
      const named = component.interfaces.names.get(m.type);
      if (named?.iface === name) out.set(pascalCase(named.name), 'resource');
    }
  }
  return [...out].map(([member, kind]) => ({ member, kind }));
}

function findExport(provider: ImportProvider, name: string): { exportName: string; item: Item } | undefined {
  const exports = provider.component.decoded.exports;
  const direct = exports.get(name);
  if (direct) return { exportName: name, item: direct };
  for (const [exportName, item] of exports) if (unversioned(exportName) === unversioned(name)) return { exportName, item };
  return undefined;
}

/** Refuses an embedder-supplied import any of whose functions the grant does not list. */
export function requireImportGranted(caps: Capabilities, name: string, item: Item): void {
  if (item.sort === 'func') {
    requireHostFunction(caps, '$root', name);
    return;
  }
  if (item.sort !== 'instance') return;
  const iface = unversioned(name);
  for (const [member, m] of item.instance.exports) {
    if (m.sort === 'func') requireHostFunction(caps, iface, functionRole(member).resource ?? member);
  }
}

/** Wires `provider`'s export into an import of `component`, after checking every type. */
function adapt(component: ComponentModule, name: string, item: Item, provider: ImportProvider): Record<string, unknown> {
  const found = findExport(provider, name);
  if (!found) throw new InvalidArguments(`imports['${name}']: the component instance given does not export '${name}' (it exports ${[...provider.component.decoded.exports.keys()].join(', ') || 'nothing'})`);
  if (item.sort !== 'instance' || found.item.sort !== 'instance') throw new InvalidArguments(`imports['${name}']: only interface imports can be satisfied by another component`);
  const mine = { names: component.interfaces.names };
  const theirs = { names: provider.component.interfaces.names };
  const out: Record<string, unknown> = {};
  const jcoExports = provider.exportObject(found.exportName) ?? {};
  for (const [member, m] of item.instance.exports) {
    if (m.sort !== 'func') continue;
    const other = found.item.instance.exports.get(member);
    if (!other || other.sort !== 'func') throw new InvalidArguments(`imports['${name}']: the providing component has no function '${member}'`);
    const mismatch = funcMismatch(m.func.type, other.func.type, mine, theirs);
    if (mismatch) throw new InvalidArguments(`imports['${name}']: function '${member}' does not match: ${mismatch}`);
    const role = functionRole(member);
    if (role.resource !== undefined) {
      // Resources are the provider's own jco classes, so handles pass between the two unchanged.
      const cls = pascalCase(role.resource);
      out[cls] = jcoExports[cls];
      continue;
    }
    const path = `${found.exportName}#${member}`;
    out[camelCase(member)] = (...args: unknown[]) => provider.callFromComponent(path, args);
  }
  return out;
}

/**
 * The import object for one instantiation. Throws MissingImports listing every import (or member)
 * nothing provides, and InvalidArguments when a component provider's types do not match.
 */
export function resolveImports(component: ComponentModule, provided: Readonly<Record<string, unknown>>, host: Preview2Host): Record<string, unknown> {
  const jcoKeys = new Set(component.transpiled.imports);
  const imports: Record<string, unknown> = {};
  const missing: MissingImport[] = [];
  for (const [name, item] of component.decoded.imports) {
    const key = jcoKeys.has(name) ? name : unversioned(name);
    if (name.startsWith('wasi:')) {
      const served = Preview2Host.serves(name) ? host.imports[unversioned(name)] : undefined;
      for (const { member, kind } of requiredMembers(component, name, item)) {
        if (served?.[member] === undefined) missing.push({ module: name, name: member, kind });
      }
      if (served) imports[key] = served;
      continue;
    }
    const given = provided[name] ?? provided[unversioned(name)];
    if (given === undefined || given === null) {
      const members = requiredMembers(component, name, item);
      if (members.length === 0) missing.push({ module: name, name: '*', kind: item.sort });
      for (const { member, kind } of members) missing.push({ module: name, name: member, kind });
      continue;
    }
    requireImportGranted(host.state.caps, name, item);
    if (isImportProvider(given)) {
      imports[key] = adapt(component, name, item, given);
      continue;
    }
    if (item.sort === 'func') {
      if (typeof given !== 'function') missing.push({ module: name, name, kind: 'func' });
      else imports[key] = given;
      continue;
    }
    const obj = given as Record<string, unknown>;
    for (const { member, kind } of requiredMembers(component, name, item)) {
      if (typeof obj[member] !== 'function') missing.push({ module: name, name: member, kind });
    }
    imports[key] = obj;
  }
  if (missing.length > 0) throw new MissingImports(missing);
  return imports;
}
