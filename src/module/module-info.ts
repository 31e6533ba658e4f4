/** The shape `inspect()` reports: what a module needs and offers, read from the binary alone. */

/** Core value types; reference types other than the two classic ones are spelled as in the text format, e.g. `(ref null 3)`. */
export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref' | (string & {});

/** Parameter and result types of a function or tag. */
export interface FuncSignature {
  /** Parameter types, in order. */
  params: ValType[];
  /** Result types, in order (empty for none). */
  results: ValType[];
}

/** Kind of an import or export. */
export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

/** A linear memory declared or imported by the module. */
export interface MemoryInfo {
  /** Initial size in 64 KiB pages. */
  min: number;
  /** Declared maximum in pages, or null when unbounded. */
  max: number | null;
  /**
   * Declared `shared` (the threads proposal); such memories are refused unless the feature policy allows
   * them.
   */
  shared: boolean;
  /** Addressed with 64-bit indices (the memory64 proposal). */
  memory64: boolean;
  /** Imported rather than defined by the module. */
  imported: boolean;
}

/** A table declared or imported by the module. */
export interface TableInfo {
  /** Type of its elements, e.g. `funcref`. */
  elementType: ValType;
  /** Initial size in elements. */
  min: number;
  /** Declared maximum in elements, or null when unbounded. */
  max: number | null;
  /** Imported rather than defined by the module. */
  imported: boolean;
}

/** A global declared or imported by the module. */
export interface GlobalInfo {
  /** Value type of the global. */
  type: ValType;
  /** Whether the module may change it. */
  mutable: boolean;
  /** Imported rather than defined by the module. */
  imported: boolean;
}

/** One import of a core module; exactly the field of its `kind` is set. */
export interface ImportInfo {
  /** Import module name, e.g. `env` or `wasi_snapshot_preview1`. */
  module: string;
  /** Field name within that module. */
  name: string;
  /** What is imported. */
  kind: ExternKind;
  /** For functions and tags. */
  signature?: FuncSignature;
  /** For a memory import. */
  memory?: MemoryInfo;
  /** For a table import. */
  table?: TableInfo;
  /** For a global import. */
  global?: GlobalInfo;
}

/** One export of a core module; exactly the field of its `kind` is set. */
export interface ExportInfo {
  /** Export name. */
  name: string;
  /** What is exported. */
  kind: ExternKind;
  /** Index in the index space of its kind (imports first). */
  index: number;
  /** For functions and tags. */
  signature?: FuncSignature;
  /** For a memory export. */
  memory?: MemoryInfo;
  /** For a table export. */
  table?: TableInfo;
  /** For a global export. */
  global?: GlobalInfo;
}

/** One import or export of a component, as named in the binary. */
export interface ComponentExternInfo {
  /** Its name, e.g. `wasi:cli/stdout@0.2.0` or `run`. */
  name: string;
  /** `func`, `value`, `type`, `component`, `instance`, or `core module` / `core func` ... for core sorts. */
  kind: string;
}

/** What `inspect()` reports about a core module or component, read from the binary without compiling it. */
export interface ModuleInfo {
  /** A core module or a component. */
  kind: 'core' | 'component';
  /** Size of the binary in bytes. */
  size: number;
  /** Imports of a core module (empty for a component: see `componentImports`). */
  imports: ImportInfo[];
  /** Exports of a core module (empty for a component: see `componentExports`). */
  exports: ExportInfo[];
  /** In index-space order: imported memories first. */
  memories: MemoryInfo[];
  /** In index-space order: imported tables first. */
  tables: TableInfo[];
  /** In index-space order: imported globals first. */
  globals: GlobalInfo[];
  /** Number of functions the module defines (imports excluded). */
  functions: number;
  /** Index of the start function, run at instantiation, or null. */
  startFunction: number | null;
  /** Custom section names, in binary order. */
  customSections: string[];
  /**
   * Which WASI the module uses: `preview1` for `wasi_snapshot_preview1` imports, `preview2` for a component
   * importing `wasi:*` interfaces, null for none.
   */
  wasi: 'preview1' | 'preview2' | null;
  /** Top-level imports of a component. */
  componentImports?: ComponentExternInfo[];
  /** Top-level exports of a component. */
  componentExports?: ComponentExternInfo[];
}
