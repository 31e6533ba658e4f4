/**
 * Groups a decoded component's imports and exports into WIT interfaces and root-level items, and
 * names its types: a type is named by the interface (or world) item that exports it under a name.
 */
import type { DecodedComponent, Func, Item } from './decode-component.ts';
import type { TypeEntity } from './wit-types.ts';

export interface InterfaceInfo {
  /** `ns:pkg/name@version`, or null for the world's own root-level functions and types. */
  readonly name: string | null;
  readonly direction: 'import' | 'export';
  readonly types: ReadonlyMap<string, TypeEntity>;
  readonly funcs: ReadonlyMap<string, Func>;
}

export interface TypeName {
  readonly name: string;
  /** The interface that names it, or null for a root-level type. */
  readonly iface: string | null;
}

export interface ComponentInterfaces {
  readonly imports: readonly InterfaceInfo[];
  readonly exports: readonly InterfaceInfo[];
  /**
   * The first name each type object got, imports first: imports appear in dependency order, so a
   * type is named by the interface that declares it rather than by one that `use`s it.
   */
  readonly names: ReadonlyMap<object, TypeName>;
}

function group(items: ReadonlyMap<string, Item>, direction: 'import' | 'export'): InterfaceInfo[] {
  const out: InterfaceInfo[] = [];
  const rootTypes = new Map<string, TypeEntity>();
  const rootFuncs = new Map<string, Func>();
  for (const [name, item] of items) {
    if (item.sort === 'instance') {
      const types = new Map<string, TypeEntity>();
      const funcs = new Map<string, Func>();
      for (const [member, m] of item.instance.exports) {
        if (m.sort === 'type') types.set(member, m.type);
        else if (m.sort === 'func') funcs.set(member, m.func);
      }
      out.push({ name, direction, types, funcs });
    } else if (item.sort === 'func') {
      rootFuncs.set(name, item.func);
    } else if (item.sort === 'type') {
      rootTypes.set(name, item.type);
    }
  }
  if (rootFuncs.size > 0 || rootTypes.size > 0) out.unshift({ name: null, direction, types: rootTypes, funcs: rootFuncs });
  return out;
}

export function componentInterfaces(decoded: DecodedComponent): ComponentInterfaces {
  const imports = group(decoded.imports, 'import');
  const exports = group(decoded.exports, 'export');
  const names = new Map<object, TypeName>();
  for (const iface of [...imports, ...exports]) {
    for (const [name, type] of iface.types) if (!names.has(type)) names.set(type, { name, iface: iface.name });
  }
  return { imports, exports, names };
}

/** What a function name says about it: `[constructor]r`, `[method]r.m`, `[static]r.m`, or a plain function. */
export interface FunctionRole {
  readonly kind: 'function' | 'constructor' | 'method' | 'static';
  readonly resource: string | undefined;
  /** The name WIT declares it by inside its resource (or the plain name). */
  readonly member: string;
}

export function functionRole(name: string): FunctionRole {
  const m = /^\[(constructor|method|static)\]([^.]+)(?:\.(.+))?$/.exec(name);
  if (!m) return { kind: 'function', resource: undefined, member: name };
  const kind = m[1] as 'constructor' | 'method' | 'static';
  return { kind, resource: m[2], member: kind === 'constructor' ? 'constructor' : (m[3] ?? '') };
}

function capitalised(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1).toLowerCase();
}

/**
 * The JavaScript name jco gives a WIT identifier: lowerCamelCase over its `-`-separated words, which
 * WIT keeps all-lower or all-upper (`get-value` → `getValue`, `HTTP-request-denied` → `httpRequestDenied`).
 */
export function camelCase(name: string): string {
  const words = name.split('-');
  return words[0].toLowerCase() + words.slice(1).map(capitalised).join('');
}

/** jco's class name for a resource: UpperCamelCase (`incoming-request` → `IncomingRequest`). */
export function pascalCase(name: string): string {
  return name.split('-').map(capitalised).join('');
}
