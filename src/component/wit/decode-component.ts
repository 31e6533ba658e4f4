/**
 * Reads a component binary's types: what it imports and exports, with every function's WIT
 * signature, and for each exported function the core function and canonical options it is lifted
 * from. jco offers no structured type tree (its `componentWit` prints only the root world), so the
 * binary is evaluated statically here: index spaces hold objects, aliases and exports copy
 * references, and nested components are evaluated when instantiated, with their imports bound to
 * the arguments. That is how types keep their names and resources their identity across the
 * wrapper components wit-component emits.
 *
 * Component-model async (WASI 0.3: async lifts and lowers, task, stream, future, waitable and
 * error-context built-ins) is read, so an async component is typed like any other; the threads
 * built-ins are reported as unsupported.
 */
import { BinaryReader } from '../../module/binary-reader.ts';
import { readExternName } from '../../module/component.ts';
import { InvalidModule } from '../../errors.ts';
import {
  primitive, type ComponentType, type ExternType, type FuncType, type InstanceType, type PrimitiveKind, type ResourceType,
  type TypeEntity, type ValType,
} from './wit-types.ts';

// ---- What evaluation produces ----

export interface CoreModuleDef {
  /** Position among the core modules of the whole binary, in binary order (jco names its files by it). */
  readonly index: number;
  readonly start: number;
  readonly end: number;
  /** Defined inside a nested component rather than at the root. */
  readonly nested: boolean;
}

export type CoreInstance =
  | { readonly kind: 'instantiate'; readonly module: CoreModuleDef; /** n-th instantiation of that module. */ readonly seq: number }
  | { readonly kind: 'inline'; readonly exports: ReadonlyMap<string, CoreItem> };

export type CoreItem =
  | { readonly kind: 'export'; readonly instance: CoreInstance; readonly name: string }
  | { readonly kind: 'lower'; readonly func: Func }
  | { readonly kind: 'builtin'; readonly name: string };

export type StringEncoding = 'utf8' | 'utf16' | 'latin1+utf16';

export interface CanonOptions {
  readonly encoding: StringEncoding;
  readonly memory: CoreItem | undefined;
  readonly realloc: CoreItem | undefined;
  readonly postReturn: CoreItem | undefined;
  readonly async: boolean;
}

export interface Func {
  readonly type: FuncType;
  /** Present when the function is lifted from core wasm inside this component. */
  readonly lift: { readonly core: CoreItem; readonly options: CanonOptions } | undefined;
}

export interface Instance { readonly exports: ReadonlyMap<string, Item> }

interface ComponentDef { readonly kind: 'component-def'; readonly start: number; readonly end: number; readonly scope: Scope }

export type Item =
  | { readonly sort: 'func'; readonly func: Func }
  | { readonly sort: 'type'; readonly type: TypeEntity }
  | { readonly sort: 'instance'; readonly instance: Instance }
  | { readonly sort: 'component'; readonly component: ComponentDef | ComponentType }
  | { readonly sort: 'core-module'; readonly module: CoreModuleDef | undefined }
  | { readonly sort: 'value' };

export interface DecodedComponent {
  readonly imports: ReadonlyMap<string, Item>;
  readonly exports: ReadonlyMap<string, Item>;
  readonly coreModules: readonly CoreModuleDef[];
}

// ---- Index spaces ----

class Scope {
  readonly parent: Scope | undefined;
  readonly types: TypeEntity[] = [];
  readonly coreTypes: undefined[] = [];
  readonly funcs: Func[] = [];
  readonly instances: Instance[] = [];
  readonly components: (ComponentDef | ComponentType)[] = [];
  readonly coreModules: (CoreModuleDef | undefined)[] = [];
  readonly coreInstances: CoreInstance[] = [];
  readonly coreFuncs: CoreItem[] = [];
  readonly coreMemories: CoreItem[] = [];
  readonly coreTables: CoreItem[] = [];
  readonly coreGlobals: CoreItem[] = [];
  readonly coreTags: CoreItem[] = [];
  values = 0;
  constructor(parent: Scope | undefined) {
    this.parent = parent;
  }
}

/** Shared state of one decoding: the binary and the numbering of core modules across nesting. */
class Decoder {
  readonly bytes: Uint8Array;
  readonly coreModules: CoreModuleDef[] = [];
  private readonly moduleAt = new Map<number, CoreModuleDef>();
  private readonly seq = new Map<CoreModuleDef, number>();
  /** Instantiations of nested components, bounded so a hostile binary cannot make evaluation explode. */
  private instantiations = 0;
  /** Nesting of type declarations being read, bounded so a hostile binary cannot exhaust the stack. */
  depth = 0;
  /** Nodes of each value type's expanded tree: types reference earlier types, so a few bytes can describe an exponentially large tree. */
  readonly sizes = new WeakMap<object, number>();

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  fail(message: string, offset?: number): never {
    throw new InvalidModule(`cannot read component types: ${message}${offset === undefined ? '' : ` (at offset ${offset})`}`, { offset });
  }

  coreModule(start: number, end: number, nested: boolean): CoreModuleDef {
    let m = this.moduleAt.get(start);
    if (!m) {
      m = { index: this.coreModules.length, start, end, nested };
      this.coreModules.push(m);
      this.moduleAt.set(start, m);
    }
    return m;
  }

  nextSeq(m: CoreModuleDef): number {
    const n = this.seq.get(m) ?? 0;
    this.seq.set(m, n + 1);
    return n;
  }

  countInstantiation(at: number): void {
    if (++this.instantiations > 10_000) this.fail('too many nested component instantiations', at);
  }
}

function at<T>(d: Decoder, list: readonly T[], index: number, what: string, offset: number): T {
  if (index >= list.length) d.fail(`${what} index ${index} out of range (${list.length} defined)`, offset);
  return list[index];
}

// ---- Names ----

// ---- Types ----

const PRIMITIVE_CODES: Record<number, PrimitiveKind> = {
  0x7f: 'bool', 0x7e: 's8', 0x7d: 'u8', 0x7c: 's16', 0x7b: 'u16', 0x7a: 's32', 0x79: 'u32', 0x78: 's64', 0x77: 'u64',
  0x76: 'f32', 0x75: 'f64', 0x74: 'char', 0x73: 'string', 0x64: 'error-context',
};

function valType(r: BinaryReader, d: Decoder, scope: Scope): ValType {
  const offset = r.pos;
  const v = r.s33();
  if (v < 0) {
    const kind = PRIMITIVE_CODES[v & 0x7f];
    if (!kind) d.fail(`unknown primitive value type 0x${(v & 0x7f).toString(16)}`, offset);
    return primitive(kind);
  }
  const t = at(d, scope.types, v, 'type', offset);
  if (t.kind === 'resource' || t.kind === 'func' || t.kind === 'instance-type' || t.kind === 'component-type') {
    d.fail(`type ${v} is a ${t.kind}, not a value type`, offset);
  }
  return t;
}

function optional<T>(r: BinaryReader, d: Decoder, read: () => T): T | undefined {
  const offset = r.pos;
  const flag = r.u8();
  if (flag === 0x00) return undefined;
  if (flag !== 0x01) d.fail('invalid optional flag', offset);
  return read();
}

function resourceAt(r: BinaryReader, d: Decoder, scope: Scope): ResourceType {
  const offset = r.pos;
  const t = at(d, scope.types, r.u32(), 'type', offset);
  if (t.kind !== 'resource') d.fail('handle of a type that is not a resource', offset);
  return t;
}

const MAX_DEPTH = 100;
const MAX_TYPE_NODES = 100_000;

function nodes(d: Decoder, t: TypeEntity | undefined): number {
  return t === undefined ? 0 : (d.sizes.get(t) ?? 1);
}

/** Records a value type's expanded size, refusing types too large to check, describe or print. */
function sized(d: Decoder, t: TypeEntity, offset: number): TypeEntity {
  let n = 1;
  switch (t.kind) {
    case 'record': for (const f of t.fields) n += nodes(d, f.type); break;
    case 'variant': for (const c of t.cases) n += nodes(d, c.type); break;
    case 'tuple': for (const x of t.types) n += nodes(d, x); break;
    case 'list': n += nodes(d, t.element) * (t.length ?? 1); break;
    case 'option': n += nodes(d, t.type); break;
    case 'result': n += nodes(d, t.ok) + nodes(d, t.err); break;
    case 'future': case 'stream': n += nodes(d, t.type); break;
    case 'func': for (const p of t.params) n += nodes(d, p.type); n += nodes(d, t.result); break;
    default: break;
  }
  if (n > MAX_TYPE_NODES) d.fail(`type too large (${n} nodes when expanded)`, offset);
  if (n > 1) d.sizes.set(t, n);
  return t;
}

/** One `deftype`: a value, function, component, instance or resource type. */
function defType(r: BinaryReader, d: Decoder, scope: Scope): TypeEntity {
  const offset = r.pos;
  if (++d.depth > MAX_DEPTH) d.fail('type declarations nested too deeply', offset);
  try {
    return sized(d, defTypeBody(r, d, scope), offset);
  } finally {
    d.depth--;
  }
}

function defTypeBody(r: BinaryReader, d: Decoder, scope: Scope): TypeEntity {
  const offset = r.pos;
  const code = r.peek();
  // A fresh object, not the shared singleton: a defined primitive is usually a named alias
  // (`type duration = u64`), and names attach to type objects.
  if (PRIMITIVE_CODES[code] !== undefined) return { ...valType(r, d, scope) };
  r.u8();
  switch (code) {
    case 0x72: {
      const n = r.count(2);
      const fields = [];
      for (let i = 0; i < n; i++) fields.push({ name: r.name(), type: valType(r, d, scope) });
      return { kind: 'record', fields };
    }
    case 0x71: {
      const n = r.count(2);
      const cases = [];
      for (let i = 0; i < n; i++) {
        const name = r.name();
        const type = optional(r, d, () => valType(r, d, scope));
        // Legacy `refines` slot: absent (0x00) in every current producer.
        optional(r, d, () => r.u32());
        cases.push({ name, type });
      }
      return { kind: 'variant', cases };
    }
    case 0x70:
      return { kind: 'list', element: valType(r, d, scope), length: undefined };
    case 0x67: {
      const element = valType(r, d, scope);
      return { kind: 'list', element, length: r.u32() };
    }
    case 0x6f: {
      const n = r.count(1);
      const types = [];
      for (let i = 0; i < n; i++) types.push(valType(r, d, scope));
      return { kind: 'tuple', types };
    }
    case 0x6e:
    case 0x6d: {
      const n = r.count(1);
      const names = [];
      for (let i = 0; i < n; i++) names.push(r.name());
      return code === 0x6e ? { kind: 'flags', names } : { kind: 'enum', names };
    }
    case 0x6b:
      return { kind: 'option', type: valType(r, d, scope) };
    case 0x6a: {
      const ok = optional(r, d, () => valType(r, d, scope));
      const err = optional(r, d, () => valType(r, d, scope));
      return { kind: 'result', ok, err };
    }
    case 0x69:
      return { kind: 'own', resource: resourceAt(r, d, scope) };
    case 0x68:
      return { kind: 'borrow', resource: resourceAt(r, d, scope) };
    case 0x66:
    case 0x65:
      return { kind: code === 0x66 ? 'stream' : 'future', type: optional(r, d, () => valType(r, d, scope)) };
    case 0x40:
    case 0x43:
      return funcType(r, d, scope, code === 0x43);
    case 0x41:
      return componentTypeDecls(r, d, scope);
    case 0x42:
      return instanceTypeDecls(r, d, scope);
    case 0x3f: {
      if (r.u8() !== 0x7f) d.fail('resource representation must be i32', offset);
      optional(r, d, () => r.u32());
      return { kind: 'resource', local: true };
    }
    case 0x3e: {
      if (r.u8() !== 0x7f) d.fail('resource representation must be i32', offset);
      r.u32();
      optional(r, d, () => r.u32());
      return { kind: 'resource', local: true };
    }
    default:
      return d.fail(`unsupported type constructor 0x${code.toString(16)}`, offset);
  }
}

function funcType(r: BinaryReader, d: Decoder, scope: Scope, async: boolean): FuncType {
  const n = r.count(2);
  const params = [];
  for (let i = 0; i < n; i++) params.push({ name: r.name(), type: valType(r, d, scope) });
  const offset = r.pos;
  const form = r.u8();
  let result: ValType | undefined;
  if (form === 0x00) {
    result = valType(r, d, scope);
  } else if (form === 0x01) {
    if (r.u32() !== 0) d.fail('named function results are not supported', offset);
  } else {
    d.fail('invalid function result list', offset);
  }
  return { kind: 'func', params, result, async };
}

/** A type-level description of something imported or exported, in the given scope. */
function externDesc(r: BinaryReader, d: Decoder, scope: Scope): ExternType {
  const offset = r.pos;
  const tag = r.u8();
  switch (tag) {
    case 0x00:
      if (r.u8() !== 0x11) d.fail('core extern descriptor must describe a module', offset);
      r.u32();
      return { sort: 'core-module' };
    case 0x01: {
      const t = at(d, scope.types, r.u32(), 'type', offset);
      if (t.kind !== 'func') d.fail('function described by a type that is not a function type', offset);
      return { sort: 'func', type: t };
    }
    case 0x02: {
      const bound = r.u8();
      if (bound === 0x00) r.u32();
      else valType(r, d, scope);
      return { sort: 'value' };
    }
    case 0x03: {
      const bound = r.u8();
      if (bound === 0x00) return { sort: 'type', type: at(d, scope.types, r.u32(), 'type', offset) };
      if (bound === 0x01) return { sort: 'type', type: { kind: 'resource', local: false } };
      return d.fail('invalid type bound', offset);
    }
    case 0x04: {
      const t = at(d, scope.types, r.u32(), 'type', offset);
      if (t.kind !== 'component-type') d.fail('component described by a type that is not a component type', offset);
      return { sort: 'component', type: t };
    }
    case 0x05: {
      const t = at(d, scope.types, r.u32(), 'type', offset);
      if (t.kind !== 'instance-type') d.fail('instance described by a type that is not an instance type', offset);
      return { sort: 'instance', type: t };
    }
    default:
      return d.fail(`unknown extern descriptor 0x${tag.toString(16)}`, offset);
  }
}

/** Realises a described import as an item whose functions have no implementation here. */
function itemOf(desc: ExternType): Item {
  switch (desc.sort) {
    case 'func':
      return { sort: 'func', func: { type: desc.type, lift: undefined } };
    case 'type':
      return { sort: 'type', type: desc.type };
    case 'instance':
      return { sort: 'instance', instance: instanceOfType(desc.type) };
    case 'component':
      return { sort: 'component', component: desc.type };
    case 'core-module':
      return { sort: 'core-module', module: undefined };
    case 'value':
      return { sort: 'value' };
  }
}

function instanceOfType(t: InstanceType): Instance {
  const exports = new Map<string, Item>();
  for (const [name, desc] of t.exports) exports.set(name, itemOf(desc));
  return { exports };
}

/** Adds an item to the index space its sort belongs to. */
function push(scope: Scope, item: Item): void {
  switch (item.sort) {
    case 'func': scope.funcs.push(item.func); break;
    case 'type': scope.types.push(item.type); break;
    case 'instance': scope.instances.push(item.instance); break;
    case 'component': scope.components.push(item.component); break;
    case 'core-module': scope.coreModules.push(item.module); break;
    case 'value': scope.values++; break;
  }
}

function instanceTypeDecls(r: BinaryReader, d: Decoder, outer: Scope): InstanceType {
  const scope = new Scope(outer);
  const exports = new Map<string, ExternType>();
  const n = r.count(1);
  for (let i = 0; i < n; i++) {
    const offset = r.pos;
    const tag = r.u8();
    if (tag === 0x00) {
      skipCoreType(r, d);
      scope.coreTypes.push(undefined);
    } else if (tag === 0x01) {
      scope.types.push(defType(r, d, scope));
    } else if (tag === 0x02) {
      alias(r, d, scope);
    } else if (tag === 0x04) {
      const name = readExternName(r);
      const desc = externDesc(r, d, scope);
      exports.set(name, desc);
      if (desc.sort === 'type') scope.types.push(desc.type);
    } else {
      d.fail(`unknown instance type declaration 0x${tag.toString(16)}`, offset);
    }
  }
  return { kind: 'instance-type', exports };
}

function componentTypeDecls(r: BinaryReader, d: Decoder, outer: Scope): ComponentType {
  const scope = new Scope(outer);
  const imports = new Map<string, ExternType>();
  const exports = new Map<string, ExternType>();
  const n = r.count(1);
  for (let i = 0; i < n; i++) {
    const offset = r.pos;
    const tag = r.u8();
    if (tag === 0x00) {
      skipCoreType(r, d);
      scope.coreTypes.push(undefined);
    } else if (tag === 0x01) {
      scope.types.push(defType(r, d, scope));
    } else if (tag === 0x02) {
      alias(r, d, scope);
    } else if (tag === 0x03 || tag === 0x04) {
      const name = readExternName(r);
      const desc = externDesc(r, d, scope);
      (tag === 0x03 ? imports : exports).set(name, desc);
      push(scope, itemOf(desc));
    } else {
      d.fail(`unknown component type declaration 0x${tag.toString(16)}`, offset);
    }
  }
  return { kind: 'component-type', imports, exports };
}

/** Core types matter only as index-space entries here; their contents are stepped over. */
function skipCoreType(r: BinaryReader, d: Decoder): void {
  const offset = r.pos;
  const form = r.u8();
  if (form === 0x60) {
    const np = r.count(1);
    for (let i = 0; i < np; i++) skipCoreValType(r, d);
    const nr = r.count(1);
    for (let i = 0; i < nr; i++) skipCoreValType(r, d);
    return;
  }
  if (form === 0x50) {
    const n = r.count(1);
    for (let i = 0; i < n; i++) {
      const declAt = r.pos;
      const tag = r.u8();
      if (tag === 0x00) {
        r.name();
        r.name();
        skipCoreImportDesc(r, d);
      } else if (tag === 0x01) {
        skipCoreType(r, d);
      } else if (tag === 0x02) {
        r.u8();
        if (r.u8() !== 0x01) d.fail('core module type alias must be outer', declAt);
        r.u32();
        r.u32();
      } else if (tag === 0x03) {
        r.name();
        skipCoreImportDesc(r, d);
      } else {
        d.fail(`unknown core module type declaration 0x${tag.toString(16)}`, declAt);
      }
    }
    return;
  }
  d.fail(`unsupported core type form 0x${form.toString(16)}`, offset);
}

function skipCoreValType(r: BinaryReader, d: Decoder): void {
  const offset = r.pos;
  const b = r.u8();
  if (b >= 0x7b && b <= 0x7f) return; // i32 i64 f32 f64 v128
  if (b === 0x70 || b === 0x6f) return; // funcref externref
  d.fail(`unsupported core value type 0x${b.toString(16)}`, offset);
}

function skipCoreImportDesc(r: BinaryReader, d: Decoder): void {
  const offset = r.pos;
  const kind = r.u8();
  if (kind === 0x00) {
    r.u32();
  } else if (kind === 0x01) {
    skipCoreValType(r, d);
    skipLimits(r);
  } else if (kind === 0x02) {
    skipLimits(r);
  } else if (kind === 0x03) {
    skipCoreValType(r, d);
    r.u8();
  } else if (kind === 0x04) {
    r.u8();
    r.u32();
  } else {
    d.fail(`unknown core import kind 0x${kind.toString(16)}`, offset);
  }
}

function skipLimits(r: BinaryReader): void {
  const flags = r.u8();
  const wide = (flags & 0x04) !== 0;
  if (wide) r.u64();
  else r.u32();
  if (flags & 0x01) {
    if (wide) r.u64();
    else r.u32();
  }
}

// ---- Aliases, instances, canon ----

function ancestor(d: Decoder, scope: Scope, count: number, offset: number): Scope {
  let s: Scope | undefined = scope;
  for (let i = 0; i < count && s; i++) s = s.parent;
  if (!s) d.fail(`outer alias count ${count} leaves the outermost component`, offset);
  return s;
}

function coreSpace(scope: Scope, sort: number): CoreItem[] | undefined {
  switch (sort) {
    case 0x00: return scope.coreFuncs;
    case 0x01: return scope.coreTables;
    case 0x02: return scope.coreMemories;
    case 0x03: return scope.coreGlobals;
    case 0x04: return scope.coreTags;
    default: return undefined;
  }
}

function alias(r: BinaryReader, d: Decoder, scope: Scope): void {
  const offset = r.pos;
  const sortByte = r.u8();
  const coreSort = sortByte === 0x00 ? r.u8() : undefined;
  const target = r.u8();
  if (target === 0x00) {
    const instance = at(d, scope.instances, r.u32(), 'instance', offset);
    const name = r.name();
    const item = instance.exports.get(name);
    if (!item) d.fail(`instance has no export '${name}'`, offset);
    if (item.sort !== SORT_NAMES[sortByte]) d.fail(`export '${name}' is a ${item.sort}, not a ${SORT_NAMES[sortByte] ?? 'known sort'}`, offset);
    push(scope, item);
  } else if (target === 0x01) {
    if (coreSort === undefined) d.fail('core export alias of a component sort', offset);
    const instance = at(d, scope.coreInstances, r.u32(), 'core instance', offset);
    const name = r.name();
    const item: CoreItem = instance.kind === 'inline'
      ? instance.exports.get(name) ?? d.fail(`core instance has no export '${name}'`, offset)
      : { kind: 'export', instance, name };
    const space = coreSpace(scope, coreSort);
    if (!space) d.fail(`core export alias of sort 0x${coreSort.toString(16)}`, offset);
    space.push(item);
  } else if (target === 0x02) {
    const from = ancestor(d, scope, r.u32(), offset);
    const index = r.u32();
    if (coreSort === 0x10) {
      at(d, from.coreTypes, index, 'core type', offset);
      scope.coreTypes.push(undefined);
    } else if (coreSort === 0x11) {
      scope.coreModules.push(at(d, from.coreModules, index, 'core module', offset));
    } else if (sortByte === 0x03) {
      scope.types.push(at(d, from.types, index, 'type', offset));
    } else if (sortByte === 0x04) {
      scope.components.push(at(d, from.components, index, 'component', offset));
    } else {
      d.fail('outer alias of a sort other than type, module or component', offset);
    }
  } else {
    d.fail(`unknown alias target 0x${target.toString(16)}`, offset);
  }
}

const SORT_NAMES: Record<number, Item['sort']> = { 0x01: 'func', 0x02: 'value', 0x03: 'type', 0x04: 'component', 0x05: 'instance' };

/** A core item (`core:sortidx` without its sort byte, which the caller read). */
function coreSortItem(r: BinaryReader, d: Decoder, scope: Scope, core: number, offset: number): CoreItem | CoreInstance | CoreModuleDef | undefined {
  const index = r.u32();
  if (core === 0x10) return at(d, scope.coreTypes, index, 'core type', offset);
  if (core === 0x11) return at(d, scope.coreModules, index, 'core module', offset);
  if (core === 0x12) return at(d, scope.coreInstances, index, 'core instance', offset);
  const space = coreSpace(scope, core);
  if (!space) d.fail(`unknown core sort 0x${core.toString(16)}`, offset);
  return at(d, space, index, 'core item', offset);
}

/** A `sortidx` naming an existing item of the scope; core items are only checked, never needed. */
function sortIdx(r: BinaryReader, d: Decoder, scope: Scope): Item | undefined {
  const offset = r.pos;
  const sort = r.u8();
  if (sort === 0x00) {
    const core = r.u8();
    const item = coreSortItem(r, d, scope, core, offset);
    return core === 0x11 ? { sort: 'core-module', module: item as CoreModuleDef | undefined } : undefined;
  }
  const index = r.u32();
  switch (sort) {
    case 0x01: return { sort: 'func', func: at(d, scope.funcs, index, 'function', offset) };
    case 0x02:
      if (index >= scope.values) d.fail('value index out of range', offset);
      return { sort: 'value' };
    case 0x03: return { sort: 'type', type: at(d, scope.types, index, 'type', offset) };
    case 0x04: return { sort: 'component', component: at(d, scope.components, index, 'component', offset) };
    case 0x05: return { sort: 'instance', instance: at(d, scope.instances, index, 'instance', offset) };
    default: return d.fail(`unknown sort 0x${sort.toString(16)}`, offset);
  }
}

function canonOptions(r: BinaryReader, d: Decoder, scope: Scope): CanonOptions {
  let encoding: StringEncoding = 'utf8';
  let memory: CoreItem | undefined;
  let realloc: CoreItem | undefined;
  let postReturn: CoreItem | undefined;
  let async = false;
  const n = r.count(1);
  for (let i = 0; i < n; i++) {
    const offset = r.pos;
    const opt = r.u8();
    switch (opt) {
      case 0x00: encoding = 'utf8'; break;
      case 0x01: encoding = 'utf16'; break;
      case 0x02: encoding = 'latin1+utf16'; break;
      case 0x03: memory = at(d, scope.coreMemories, r.u32(), 'core memory', offset); break;
      case 0x04: realloc = at(d, scope.coreFuncs, r.u32(), 'core function', offset); break;
      case 0x05: postReturn = at(d, scope.coreFuncs, r.u32(), 'core function', offset); break;
      case 0x06: async = true; break;
      case 0x07: r.u32(); break; // callback (async only)
      default: d.fail(`unsupported canonical option 0x${opt.toString(16)}`, offset);
    }
  }
  return { encoding, memory, realloc, postReturn, async };
}

const RESOURCE_BUILTINS: Record<number, string> = { 0x02: 'resource.new', 0x03: 'resource.drop', 0x04: 'resource.rep', 0x07: 'resource.drop async' };

/** How each component-model async built-in's immediates are laid out (after its opcode). */
type AsyncShape = 'none' | 'type' | 'type-opts' | 'type-flag' | 'opts' | 'flag' | 'flag-memory' | 'context' | 'result-opts';

const ASYNC_BUILTINS: Record<number, readonly [string, AsyncShape]> = {
  0x05: ['task.cancel', 'none'], 0x06: ['subtask.cancel', 'flag'], 0x08: ['backpressure.set', 'none'],
  0x09: ['task.return', 'result-opts'], 0x0a: ['context.get', 'context'], 0x0b: ['context.set', 'context'],
  0x0c: ['thread.yield', 'flag'], 0x0d: ['subtask.drop', 'none'],
  0x0e: ['stream.new', 'type'], 0x0f: ['stream.read', 'type-opts'], 0x10: ['stream.write', 'type-opts'],
  0x11: ['stream.cancel-read', 'type-flag'], 0x12: ['stream.cancel-write', 'type-flag'],
  0x13: ['stream.drop-readable', 'type'], 0x14: ['stream.drop-writable', 'type'],
  0x15: ['future.new', 'type'], 0x16: ['future.read', 'type-opts'], 0x17: ['future.write', 'type-opts'],
  0x18: ['future.cancel-read', 'type-flag'], 0x19: ['future.cancel-write', 'type-flag'],
  0x1a: ['future.drop-readable', 'type'], 0x1b: ['future.drop-writable', 'type'],
  0x1c: ['error-context.new', 'opts'], 0x1d: ['error-context.debug-message', 'opts'], 0x1e: ['error-context.drop', 'none'],
  0x1f: ['waitable-set.new', 'none'], 0x20: ['waitable-set.wait', 'flag-memory'], 0x21: ['waitable-set.poll', 'flag-memory'],
  0x22: ['waitable-set.drop', 'none'], 0x23: ['waitable.join', 'none'],
  0x24: ['backpressure.inc', 'none'], 0x25: ['backpressure.dec', 'none'],
};

/** Reads an async built-in's immediates, checking the types and memories it names exist. */
function asyncBuiltin(r: BinaryReader, d: Decoder, scope: Scope, name: string, shape: AsyncShape, offset: number): void {
  const flag = (): void => {
    if (r.u8() > 1) d.fail(`${name}: invalid flag`, offset);
  };
  const type = (): void => {
    const t = at(d, scope.types, r.u32(), 'type', offset);
    if (name.startsWith('stream.') || name.startsWith('future.')) {
      if (t.kind !== name.slice(0, 6)) d.fail(`${name} of a type that is not a ${name.slice(0, 6)}`, offset);
    }
  };
  switch (shape) {
    case 'none': break;
    case 'type': type(); break;
    case 'type-opts': type(); canonOptions(r, d, scope); break;
    case 'type-flag': type(); flag(); break;
    case 'opts': canonOptions(r, d, scope); break;
    case 'flag': flag(); break;
    case 'flag-memory': flag(); at(d, scope.coreMemories, r.u32(), 'core memory', offset); break;
    case 'context':
      if (r.u8() !== 0x7f) d.fail(`${name} must be of type i32`, offset);
      r.u32();
      break;
    case 'result-opts': {
      const form = r.u8();
      if (form === 0x00) valType(r, d, scope);
      else if (form !== 0x01 || r.u8() !== 0x00) d.fail(`${name}: invalid result list`, offset);
      canonOptions(r, d, scope);
      break;
    }
  }
}

function canon(r: BinaryReader, d: Decoder, scope: Scope): void {
  const offset = r.pos;
  const op = r.u8();
  if (op === 0x00) {
    if (r.u8() !== 0x00) d.fail('canon lift must lift a core function', offset);
    const core = at(d, scope.coreFuncs, r.u32(), 'core function', offset);
    const options = canonOptions(r, d, scope);
    const typeAt = r.pos;
    const type = at(d, scope.types, r.u32(), 'type', typeAt);
    if (type.kind !== 'func') d.fail('canon lift to a type that is not a function type', typeAt);
    scope.funcs.push({ type, lift: { core, options } });
  } else if (op === 0x01) {
    if (r.u8() !== 0x00) d.fail('canon lower must lower a function', offset);
    const func = at(d, scope.funcs, r.u32(), 'function', offset);
    canonOptions(r, d, scope);
    scope.coreFuncs.push({ kind: 'lower', func });
  } else if (RESOURCE_BUILTINS[op] !== undefined) {
    const t = at(d, scope.types, r.u32(), 'type', offset);
    if (t.kind !== 'resource') d.fail(`${RESOURCE_BUILTINS[op]} of a type that is not a resource`, offset);
    scope.coreFuncs.push({ kind: 'builtin', name: RESOURCE_BUILTINS[op] });
  } else if (ASYNC_BUILTINS[op] !== undefined) {
    const [name, shape] = ASYNC_BUILTINS[op];
    asyncBuiltin(r, d, scope, name, shape, offset);
    scope.coreFuncs.push({ kind: 'builtin', name });
  } else {
    d.fail(`canonical built-in 0x${op.toString(16)} (component-model threads) is not supported`, offset);
  }
}

function coreInstance(r: BinaryReader, d: Decoder, scope: Scope): CoreInstance {
  const offset = r.pos;
  const form = r.u8();
  if (form === 0x00) {
    const module = at(d, scope.coreModules, r.u32(), 'core module', offset);
    const n = r.count(3);
    for (let i = 0; i < n; i++) {
      r.name();
      const argAt = r.pos;
      if (r.u8() !== 0x12) d.fail('core instantiation argument must be an instance', argAt);
      at(d, scope.coreInstances, r.u32(), 'core instance', argAt);
    }
    if (!module) d.fail('instantiation of an imported core module is not supported', offset);
    return { kind: 'instantiate', module, seq: d.nextSeq(module) };
  }
  if (form === 0x01) {
    const exports = new Map<string, CoreItem>();
    const n = r.count(3);
    for (let i = 0; i < n; i++) {
      const name = r.name();
      const sortAt = r.pos;
      const core = r.u8();
      const item = coreSortItem(r, d, scope, core, sortAt);
      if (core <= 0x04) exports.set(name, item as CoreItem);
    }
    return { kind: 'inline', exports };
  }
  return d.fail(`unknown core instance form 0x${form.toString(16)}`, offset);
}

// ---- Component bodies ----

const SEC_CUSTOM = 0;
const SEC_CORE_MODULE = 1;
const SEC_CORE_INSTANCE = 2;
const SEC_CORE_TYPE = 3;
const SEC_COMPONENT = 4;
const SEC_INSTANCE = 5;
const SEC_ALIAS = 6;
const SEC_TYPE = 7;
const SEC_CANON = 8;
const SEC_START = 9;
const SEC_IMPORT = 10;
const SEC_EXPORT = 11;
const SEC_VALUE = 12;

function instantiate(r: BinaryReader, d: Decoder, scope: Scope): Instance {
  const offset = r.pos;
  const form = r.u8();
  if (form === 0x00) {
    const component = at(d, scope.components, r.u32(), 'component', offset);
    const args = new Map<string, Item>();
    const n = r.count(3);
    for (let i = 0; i < n; i++) {
      const name = r.name();
      const item = sortIdx(r, d, scope);
      if (item) args.set(name, item);
    }
    if (component.kind === 'component-type') {
      const exports = new Map<string, Item>();
      for (const [name, desc] of component.exports) exports.set(name, itemOf(desc));
      return { exports };
    }
    d.countInstantiation(offset);
    if (++d.depth > MAX_DEPTH) d.fail('components nested too deeply', offset);
    try {
      return { exports: evaluate(d, component.start, component.end, new Scope(component.scope), args, true).exports };
    } finally {
      d.depth--;
    }
  }
  if (form === 0x01) {
    const exports = new Map<string, Item>();
    const n = r.count(3);
    for (let i = 0; i < n; i++) {
      const name = readExternName(r);
      const item = sortIdx(r, d, scope);
      if (item) exports.set(name, item);
    }
    return { exports };
  }
  return d.fail(`unknown instance form 0x${form.toString(16)}`, offset);
}

/** An export's item, re-typed by its ascription when it has one (that is where type names come from). */
function ascribe(item: Item, desc: ExternType | undefined): Item {
  if (!desc) return item;
  if (item.sort === 'func' && desc.sort === 'func') return { sort: 'func', func: { type: desc.type, lift: item.func.lift } };
  return item;
}

function evaluate(
  d: Decoder, start: number, end: number, scope: Scope, args: ReadonlyMap<string, Item> | undefined, nested: boolean,
): { imports: Map<string, Item>; exports: Map<string, Item> } {
  const r = new BinaryReader(d.bytes, start, end);
  const b = d.bytes;
  if (end - start < 8 || b[start] !== 0 || b[start + 1] !== 0x61 || b[start + 2] !== 0x73 || b[start + 3] !== 0x6d || b[start + 6] !== 1) {
    d.fail('missing component preamble', start);
  }
  r.pos = start + 8;
  const imports = new Map<string, Item>();
  const exports = new Map<string, Item>();
  while (!r.eof()) {
    const headerAt = r.pos;
    const id = r.u8();
    const size = r.u32();
    if (size > r.end - r.pos) d.fail(`section size ${size} exceeds the remaining bytes`, headerAt);
    const sectionEnd = r.pos + size;
    const outerEnd = r.end;
    r.end = sectionEnd;
    switch (id) {
      case SEC_CUSTOM:
      case SEC_START:
      case SEC_VALUE:
        if (id === SEC_VALUE) scope.values += r.u32();
        r.pos = sectionEnd;
        break;
      case SEC_CORE_MODULE:
        scope.coreModules.push(d.coreModule(r.pos, sectionEnd, nested));
        r.pos = sectionEnd;
        break;
      case SEC_CORE_INSTANCE: {
        const n = r.count(2);
        for (let i = 0; i < n; i++) scope.coreInstances.push(coreInstance(r, d, scope));
        break;
      }
      case SEC_CORE_TYPE: {
        const n = r.count(1);
        for (let i = 0; i < n; i++) {
          skipCoreType(r, d);
          scope.coreTypes.push(undefined);
        }
        break;
      }
      case SEC_COMPONENT:
        scope.components.push({ kind: 'component-def', start: r.pos, end: sectionEnd, scope });
        r.pos = sectionEnd;
        break;
      case SEC_INSTANCE: {
        const n = r.count(2);
        for (let i = 0; i < n; i++) scope.instances.push(instantiate(r, d, scope));
        break;
      }
      case SEC_ALIAS: {
        const n = r.count(3);
        for (let i = 0; i < n; i++) alias(r, d, scope);
        break;
      }
      case SEC_TYPE: {
        const n = r.count(1);
        for (let i = 0; i < n; i++) scope.types.push(defType(r, d, scope));
        break;
      }
      case SEC_CANON: {
        const n = r.count(1);
        for (let i = 0; i < n; i++) canon(r, d, scope);
        break;
      }
      case SEC_IMPORT: {
        const n = r.count(2);
        for (let i = 0; i < n; i++) {
          const name = readExternName(r);
          const desc = externDesc(r, d, scope);
          const item = args?.get(name) ?? itemOf(desc);
          imports.set(name, item);
          push(scope, item);
        }
        break;
      }
      case SEC_EXPORT: {
        const n = r.count(3);
        for (let i = 0; i < n; i++) {
          const name = readExternName(r);
          const itemAt = r.pos;
          const item = sortIdx(r, d, scope) ?? d.fail('export of a core item', itemAt);
          const desc = optional(r, d, () => externDesc(r, d, scope));
          const exported = ascribe(item, desc);
          exports.set(name, exported);
          push(scope, exported);
        }
        break;
      }
      default:
        d.fail(`unknown component section id ${id}`, headerAt);
    }
    if (r.pos !== sectionEnd) d.fail(`component section ${id} ends at ${r.pos}, not at its declared end ${sectionEnd}`, r.pos);
    r.end = outerEnd;
  }
  return { imports, exports };
}

/** Evaluates a component binary's types. Throws InvalidModule for what it cannot read. */
export function decodeComponent(bytes: Uint8Array): DecodedComponent {
  const d = new Decoder(bytes);
  const { imports, exports } = evaluate(d, 0, bytes.length, new Scope(undefined), undefined, false);
  return { imports, exports, coreModules: d.coreModules };
}
