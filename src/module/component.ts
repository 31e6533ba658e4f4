/**
 * Component-model binaries: only the top-level import and export names and kinds are decoded
 * (enough to tell what a component needs and whether it speaks WASI preview 2); every other
 * section, including nested modules and components, is stepped over by its declared size.
 */
import { BinaryReader } from './binary-reader.ts';
import type { ComponentExternInfo, ModuleInfo } from './module-info.ts';

const SEC_CUSTOM = 0;
const SEC_IMPORT = 10;
const SEC_EXPORT = 11;
const MAX_SECTION_ID = 12;

const CORE_SORTS: Record<number, string> = {
  0x00: 'core func',
  0x01: 'core table',
  0x02: 'core memory',
  0x03: 'core global',
  0x04: 'core tag',
  0x10: 'core type',
  0x11: 'core module',
  0x12: 'core instance',
};

const SORTS: Record<number, string> = { 0x01: 'func', 0x02: 'value', 0x03: 'type', 0x04: 'component', 0x05: 'instance' };

/**
 * `importname'` / `exportname'`: a discriminant, the name, then (for the versioned and annotated
 * forms) extra data the inspector does not report.
 */
export function readExternName(r: BinaryReader): string {
  const at = r.pos;
  const form = r.u8();
  const name = r.name();
  if (form === 0x01) {
    r.name(); // version suffix
  } else if (form === 0x02) {
    const n = r.count(2);
    for (let i = 0; i < n; i++) {
      const tagAt = r.pos;
      if (r.u8() > 0x02) r.fail('unknown extern name attribute', tagAt);
      r.name();
    }
  } else if (form !== 0x00) {
    r.fail(`unknown extern name form 0x${form.toString(16)}`, at);
  }
  return name;
}

/** Component value types: a primitive as one negative s33 byte, or a type index. */
function skipComponentValType(r: BinaryReader): void {
  const at = r.pos;
  const v = r.s33();
  if (v < -64) r.fail('invalid component value type', at);
}

/** Reads an `externdesc` and returns its kind. */
function readExternDesc(r: BinaryReader): string {
  const at = r.pos;
  const tag = r.u8();
  switch (tag) {
    case 0x00: {
      const sortAt = r.pos;
      if (r.u8() !== 0x11) r.fail('core extern descriptor must describe a module', sortAt);
      r.u32();
      return 'core module';
    }
    case 0x01:
    case 0x04:
    case 0x05:
      r.u32();
      return SORTS[tag];
    case 0x02: {
      const boundAt = r.pos;
      const bound = r.u8();
      if (bound === 0x00) r.u32();
      else if (bound === 0x01) skipComponentValType(r);
      else r.fail('invalid value bound', boundAt);
      return 'value';
    }
    case 0x03: {
      const boundAt = r.pos;
      const bound = r.u8();
      if (bound === 0x00) r.u32();
      else if (bound !== 0x01) r.fail('invalid type bound', boundAt);
      return 'type';
    }
    default:
      return r.fail(`unknown extern descriptor 0x${tag.toString(16)}`, at);
  }
}

function readSort(r: BinaryReader): string {
  const at = r.pos;
  const sort = r.u8();
  if (sort === 0x00) {
    const coreAt = r.pos;
    const core = CORE_SORTS[r.u8()];
    if (core === undefined) r.fail('unknown core sort', coreAt);
    return core;
  }
  const kind = SORTS[sort];
  if (kind === undefined) r.fail(`unknown sort 0x${sort.toString(16)}`, at);
  return kind;
}

export function inspectComponent(bytes: Uint8Array): ModuleInfo {
  const r = new BinaryReader(bytes, 8);
  const componentImports: ComponentExternInfo[] = [];
  const componentExports: ComponentExternInfo[] = [];
  const customSections: string[] = [];

  while (!r.eof()) {
    const headerStart = r.pos;
    const id = r.u8();
    if (id > MAX_SECTION_ID) r.fail(`unknown component section id ${id}`, headerStart);
    const sizeAt = r.pos;
    const size = r.u32();
    if (size > r.end - r.pos) r.fail(`section size ${size} exceeds the remaining ${r.end - r.pos} bytes`, sizeAt);
    const end = r.pos + size;
    const outer = r.end;
    r.end = end;
    if (id === SEC_CUSTOM) {
      customSections.push(r.name());
      r.pos = end;
    } else if (id === SEC_IMPORT) {
      const n = r.count(3);
      for (let i = 0; i < n; i++) {
        const name = readExternName(r);
        componentImports.push({ name, kind: readExternDesc(r) });
      }
    } else if (id === SEC_EXPORT) {
      const n = r.count(4);
      for (let i = 0; i < n; i++) {
        const name = readExternName(r);
        const kind = readSort(r);
        r.u32();
        // An optional ascribed type follows.
        const optAt = r.pos;
        const hasDesc = r.u8();
        if (hasDesc === 0x01) readExternDesc(r);
        else if (hasDesc !== 0x00) r.fail('invalid optional export type', optAt);
        componentExports.push({ name, kind });
      }
    } else {
      r.pos = end;
    }
    if (r.pos !== end) r.fail(`component section ${id} contents end at ${r.pos}, not at the declared end ${end}`, r.pos);
    r.end = outer;
  }

  const usesWasi = componentImports.some((e) => e.name.startsWith('wasi:')) || componentExports.some((e) => e.name.startsWith('wasi:'));
  return {
    kind: 'component',
    size: bytes.length,
    imports: [],
    exports: [],
    memories: [],
    tables: [],
    globals: [],
    functions: 0,
    startFunction: null,
    customSections,
    wasi: usesWasi ? 'preview2' : null,
    componentImports,
    componentExports,
  };
}
