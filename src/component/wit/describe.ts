/**
 * `component.describe()`: a component's interfaces, functions and WIT types as plain JSON data, so a
 * caller (e.g. a wrapper generating JSON Schema) can tell what to pass without reading WIT.
 */
import type { Func } from './decode-component.ts';
import { functionRole, type ComponentInterfaces, type InterfaceInfo, type TypeName } from './interfaces.ts';
import { isValType, type PrimitiveKind, type ValType } from './wit-types.ts';

/** Where a named type is declared. */
export interface TypeOrigin {
  /** The type's WIT name, e.g. `point`. */
  name?: string;
  /** The interface declaring it, e.g. `example:types/types`; absent for world-level types. */
  interface?: string;
}

/**
 * A WIT type as plain JSON data, told apart by `kind`. Named types (records, variants, enums, flags,
 * resources) also carry their `TypeOrigin`.
 */
export type TypeDescription =
  | {
    /** A primitive WIT type, e.g. `u32` or `string`. */
    kind: PrimitiveKind;
  }
  | ({
    /** A record: named fields, passed as an object. */
    kind: 'record';
    /** Its fields in declaration order. */
    fields: {
      /** Field name, as the object key. */
      name: string;
      /** Field type. */
      type: TypeDescription;
    }[];
  } & TypeOrigin)
  | ({
    /** A variant: one of several cases, passed as `{ tag, val }`. */
    kind: 'variant';
    /** Its cases in declaration order. */
    cases: {
      /** Case name, the `tag`. */
      name: string;
      /** Payload type; absent for a case without one. */
      type?: TypeDescription;
    }[];
  } & TypeOrigin)
  | ({
    /** An enum: one of several names, passed as a string. */
    kind: 'enum';
    /** The allowed names in declaration order. */
    cases: string[];
  } & TypeOrigin)
  | ({
    /** Flags: a set of names, passed as an object of booleans. */
    kind: 'flags';
    /** The flag names in declaration order. */
    flags: string[];
  } & TypeOrigin)
  | {
    /** A list, passed as an array. */
    kind: 'list';
    /** Element type. */
    element: TypeDescription;
    /** Fixed length, for a fixed-size list. */
    length?: number;
  }
  | {
    /** A tuple, passed as an array. */
    kind: 'tuple';
    /** Element types in order. */
    types: TypeDescription[];
  }
  | {
    /** An option: the value, or `undefined` for none. */
    kind: 'option';
    /** Type of the value when present. */
    type: TypeDescription;
  }
  | {
    /** A result: success with an `ok` value or failure with an `err` value (a function returning one throws the `err`). */
    kind: 'result';
    /** Type of the success value; absent for none. */
    ok?: TypeDescription;
    /** Type of the error value; absent for none. */
    err?: TypeDescription;
  }
  | ({
    /** A handle to a resource, owned or borrowed. */
    kind: 'own' | 'borrow';
    /** The resource's name. */
    resource: string;
  } & TypeOrigin)
  | {
    /** A future or stream (WASI 0.3). */
    kind: 'future' | 'stream';
    /** Type of the values it carries; absent for none. */
    type?: TypeDescription;
  };

/** One function of a component, with what `call()` takes and returns. */
export interface FunctionDescription {
  /** The WIT name, e.g. `hello` or `[method]counter.inc`. */
  name: string;
  /** What `instance.call()` takes: `package:name/interface#function`, or the bare name at the root. */
  path: string;
  /** A freestanding function, or a resource's constructor, method or static function. */
  kind: 'function' | 'constructor' | 'method' | 'static';
  /** For constructors, methods and static functions: the resource they belong to. */
  resource?: string;
  /** Parameters in order. */
  params: {
    /** Parameter name. */
    name: string;
    /** Parameter type. */
    type: TypeDescription;
  }[];
  /** Result type; absent for a function that returns nothing. */
  result?: TypeDescription;
}

/** One imported or exported interface of a component (or the world's root-level items). */
export interface InterfaceDescription {
  /** `package:name/interface[@version]`, or null for the world's root-level items. */
  name: string | null;
  /** Types the interface declares. */
  types: {
    /** Type name. */
    name: string;
    /** The type; a resource is only named here, its functions are in `functions`. */
    type: TypeDescription | {
      /** A resource type. */
      kind: 'resource';
    };
  }[];
  /** Functions of the interface, resource constructors and methods included. */
  functions: FunctionDescription[];
}

/** What `ComponentModule.describe()` returns: a component's interfaces, functions and types as JSON data. */
export interface ComponentDescription {
  /** Interfaces the component imports. */
  imports: InterfaceDescription[];
  /** Interfaces the component exports. */
  exports: InterfaceDescription[];
  /** Every function `instance.call()` accepts, flattened from `exports`. */
  functions: FunctionDescription[];
}

function origin(n: TypeName | undefined): TypeOrigin {
  if (!n) return {};
  return n.iface === null ? { name: n.name } : { name: n.name, interface: n.iface };
}

export function describeType(t: ValType, names: ReadonlyMap<object, TypeName>): TypeDescription {
  const d = (x: ValType): TypeDescription => describeType(x, names);
  switch (t.kind) {
    case 'record':
      return { kind: 'record', ...origin(names.get(t)), fields: t.fields.map((f) => ({ name: f.name, type: d(f.type) })) };
    case 'variant':
      return { kind: 'variant', ...origin(names.get(t)), cases: t.cases.map((c) => (c.type ? { name: c.name, type: d(c.type) } : { name: c.name })) };
    case 'enum':
      return { kind: 'enum', ...origin(names.get(t)), cases: [...t.names] };
    case 'flags':
      return { kind: 'flags', ...origin(names.get(t)), flags: [...t.names] };
    case 'list':
      return t.length === undefined ? { kind: 'list', element: d(t.element) } : { kind: 'list', element: d(t.element), length: t.length };
    case 'tuple':
      return { kind: 'tuple', types: t.types.map(d) };
    case 'option':
      return { kind: 'option', type: d(t.type) };
    case 'result': {
      const out: { kind: 'result'; ok?: TypeDescription; err?: TypeDescription } = { kind: 'result' };
      if (t.ok) out.ok = d(t.ok);
      if (t.err) out.err = d(t.err);
      return out;
    }
    case 'own':
    case 'borrow': {
      const o = origin(names.get(t.resource));
      return { kind: t.kind, resource: o.name ?? '(anonymous)', ...(o.interface ? { interface: o.interface } : {}) };
    }
    case 'future':
    case 'stream':
      return t.type ? { kind: t.kind, type: d(t.type) } : { kind: t.kind };
    default:
      return { kind: t.kind };
  }
}

function describeFunction(iface: string | null, name: string, f: Func, names: ReadonlyMap<object, TypeName>): FunctionDescription {
  const role = functionRole(name);
  const out: FunctionDescription = {
    name,
    path: iface === null ? name : `${iface}#${name}`,
    kind: role.kind,
    params: f.type.params.map((p) => ({ name: p.name, type: describeType(p.type, names) })),
  };
  if (role.resource !== undefined) out.resource = role.resource;
  if (f.type.result) out.result = describeType(f.type.result, names);
  return out;
}

function describeInterface(iface: InterfaceInfo, names: ReadonlyMap<object, TypeName>): InterfaceDescription {
  const types: InterfaceDescription['types'] = [];
  for (const [name, t] of iface.types) {
    if (t.kind === 'resource') types.push({ name, type: { kind: 'resource' } });
    else if (isValType(t)) types.push({ name, type: describeType(t, names) });
  }
  return {
    name: iface.name,
    types,
    functions: [...iface.funcs].map(([name, f]) => describeFunction(iface.name, name, f, names)),
  };
}

export function describeComponent(ifaces: ComponentInterfaces): ComponentDescription {
  const exports = ifaces.exports.map((i) => describeInterface(i, ifaces.names));
  return {
    imports: ifaces.imports.map((i) => describeInterface(i, ifaces.names)),
    exports,
    functions: exports.flatMap((i) => i.functions),
  };
}
