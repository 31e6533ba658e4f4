/**
 * The WIT type model read out of a component binary: value types as plain objects compared by
 * structure, except resources, which are compared by identity (two imports of a resource named alike
 * are still different resources). Recursion is impossible in WIT, so every type is a finite tree.
 */

/** The primitive WIT types; `error-context` is WASI 0.3's. */
export type PrimitiveKind =
  | 'bool' | 's8' | 'u8' | 's16' | 'u16' | 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64' | 'char' | 'string' | 'error-context';

export interface PrimitiveType { readonly kind: PrimitiveKind }
export interface Field { readonly name: string; readonly type: ValType }
export interface RecordType { readonly kind: 'record'; readonly fields: readonly Field[] }
export interface Case { readonly name: string; readonly type: ValType | undefined }
export interface VariantType { readonly kind: 'variant'; readonly cases: readonly Case[] }
export interface ListType { readonly kind: 'list'; readonly element: ValType; /** Fixed-length lists only. */ readonly length: number | undefined }
export interface TupleType { readonly kind: 'tuple'; readonly types: readonly ValType[] }
export interface FlagsType { readonly kind: 'flags'; readonly names: readonly string[] }
export interface EnumType { readonly kind: 'enum'; readonly names: readonly string[] }
export interface OptionType { readonly kind: 'option'; readonly type: ValType }
export interface ResultType { readonly kind: 'result'; readonly ok: ValType | undefined; readonly err: ValType | undefined }
export interface HandleType { readonly kind: 'own' | 'borrow'; readonly resource: ResourceType }
export interface AsyncValueType { readonly kind: 'future' | 'stream'; readonly type: ValType | undefined }

/** A resource type: identity is the object itself. */
export interface ResourceType {
  readonly kind: 'resource';
  /** Defined by the component itself (it implements it), rather than imported. */
  readonly local: boolean;
}

export type ValType =
  | PrimitiveType | RecordType | VariantType | ListType | TupleType | FlagsType | EnumType | OptionType | ResultType
  | HandleType | AsyncValueType;

export interface Param { readonly name: string; readonly type: ValType }
export interface FuncType {
  readonly kind: 'func';
  readonly params: readonly Param[];
  readonly result: ValType | undefined;
  readonly async: boolean;
}

/** What an instance or component type declares, by name. */
export interface InstanceType { readonly kind: 'instance-type'; readonly exports: ReadonlyMap<string, ExternType> }
export interface ComponentType {
  readonly kind: 'component-type';
  readonly imports: ReadonlyMap<string, ExternType>;
  readonly exports: ReadonlyMap<string, ExternType>;
}

export type TypeEntity = ValType | ResourceType | FuncType | InstanceType | ComponentType;

export type ExternType =
  | { readonly sort: 'func'; readonly type: FuncType }
  | { readonly sort: 'type'; readonly type: TypeEntity }
  | { readonly sort: 'instance'; readonly type: InstanceType }
  | { readonly sort: 'component'; readonly type: ComponentType }
  | { readonly sort: 'core-module' }
  | { readonly sort: 'value' };

const PRIMITIVES = new Map<PrimitiveKind, PrimitiveType>();
/** Primitive types are shared singletons, so `===` works for them too. */
export function primitive(kind: PrimitiveKind): PrimitiveType {
  let t = PRIMITIVES.get(kind);
  if (!t) {
    t = Object.freeze({ kind });
    PRIMITIVES.set(kind, t);
  }
  return t;
}

export function isValType(t: TypeEntity): t is ValType {
  return t.kind !== 'resource' && t.kind !== 'func' && t.kind !== 'instance-type' && t.kind !== 'component-type';
}
