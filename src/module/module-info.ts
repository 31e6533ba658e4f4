/** The shape `inspect()` reports: what a module needs and offers, read from the binary alone. */

/** Core value types; reference types other than the two classic ones are spelled as in the text format, e.g. `(ref null 3)`. */
export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref' | (string & {});

export interface FuncSignature {
  params: ValType[];
  results: ValType[];
}

export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

export interface MemoryInfo {
  /** Initial size in 64 KiB pages. */
  min: number;
  /** Declared maximum in pages, or null when unbounded. */
  max: number | null;
  shared: boolean;
  memory64: boolean;
  imported: boolean;
}

export interface TableInfo {
  elementType: ValType;
  min: number;
  max: number | null;
  imported: boolean;
}

export interface GlobalInfo {
  type: ValType;
  mutable: boolean;
  imported: boolean;
}

export interface ImportInfo {
  module: string;
  name: string;
  kind: ExternKind;
  /** For functions and tags. */
  signature?: FuncSignature;
  memory?: MemoryInfo;
  table?: TableInfo;
  global?: GlobalInfo;
}

export interface ExportInfo {
  name: string;
  kind: ExternKind;
  /** Index in the index space of its kind (imports first). */
  index: number;
  signature?: FuncSignature;
  memory?: MemoryInfo;
  table?: TableInfo;
  global?: GlobalInfo;
}

export interface ComponentExternInfo {
  name: string;
  /** `func`, `value`, `type`, `component`, `instance`, or `core module` / `core func` ... for core sorts. */
  kind: string;
}

export interface ModuleInfo {
  kind: 'core' | 'component';
  /** Size of the binary in bytes. */
  size: number;
  imports: ImportInfo[];
  exports: ExportInfo[];
  /** In index-space order: imported memories first. */
  memories: MemoryInfo[];
  tables: TableInfo[];
  globals: GlobalInfo[];
  /** Number of functions the module defines (imports excluded). */
  functions: number;
  startFunction: number | null;
  /** Custom section names, in binary order. */
  customSections: string[];
  wasi: 'preview1' | 'preview2' | null;
  componentImports?: ComponentExternInfo[];
  componentExports?: ComponentExternInfo[];
}
