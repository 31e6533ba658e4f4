/**
 * The `name` custom section through instrumentation: the engine shows these names in stack traces,
 * so they must survive the rewrite with the function indices it shifts.
 *
 * Subsections that name functions by index (function names, local names, label names) are
 * renumbered as instrumentation renumbers functions: indices from the first defined function on move
 * up by the number of imports added. The sandbox's own imports and functions are named
 * `wasm_sandbox.*`. Every other subsection (module, type, table, memory, global, ... names) keeps
 * its bytes: instrumentation appends globals and types after the guest's, so their indices stay.
 */
import { BinaryReader } from './binary-reader.ts';
import { ByteWriter } from './binary-writer.ts';

export interface FunctionRenumbering {
  importedFuncs: number;
  /** Imports added after the guest's, each shifting the defined functions up by one. */
  addedImports: readonly string[];
  /** Functions appended after the guest's (indices from importedFuncs + addedImports + definedFuncs). */
  addedFunctions: readonly string[];
  definedFuncs: number;
}

const SUB_FUNCTIONS = 1;
const SUB_LOCALS = 2;
const SUB_LABELS = 3;

/** Steps over a name without decoding it: an interpreter's section holds ~100k of them, and only indices change. */
function skipName(r: BinaryReader): void {
  const length = r.u32();
  if (length > r.end - r.pos) r.fail('name overruns its subsection');
  r.pos += length;
}

function renumber(f: number, r: FunctionRenumbering): number {
  return f >= r.importedFuncs ? f + r.addedImports.length : f;
}

function encodedName(name: string): Uint8Array {
  const w = new ByteWriter(name.length * 3 + 5);
  w.name(name);
  return w.finish();
}

function functionNames(r: BinaryReader, w: ByteWriter, map: FunctionRenumbering): void {
  const entries: [number, Uint8Array][] = [];
  const n = r.count();
  for (let i = 0; i < n; i++) {
    const f = r.u32();
    const at = r.pos;
    skipName(r);
    entries.push([renumber(f, map), r.buf.subarray(at, r.pos)]);
  }
  map.addedImports.forEach((name, i) => entries.push([map.importedFuncs + i, encodedName(name)]));
  const appended = map.importedFuncs + map.addedImports.length + map.definedFuncs;
  map.addedFunctions.forEach((name, i) => entries.push([appended + i, encodedName(name)]));
  // A name map is sorted by index, and the engine ignores one that is not.
  entries.sort((a, b) => a[0] - b[0]);
  w.u32(entries.length);
  for (const [f, name] of entries) {
    w.u32(f);
    w.bytes(name);
  }
}

/** Local and label names: an indirect map, outer indices being functions. */
function indirectNames(r: BinaryReader, w: ByteWriter, map: FunctionRenumbering): void {
  const n = r.count();
  w.u32(n);
  for (let i = 0; i < n; i++) {
    w.u32(renumber(r.u32(), map));
    const at = r.pos;
    const inner = r.count();
    for (let j = 0; j < inner; j++) {
      r.u32();
      skipName(r);
    }
    w.copy(r.buf, at, r.pos);
  }
}

/**
 * The name section's payload (after its own name) rewritten for `map`, or null when it cannot be
 * read: the engine ignores a malformed name section, so instrumentation drops it rather than fail.
 */
export function rewriteNameSection(src: Uint8Array, start: number, end: number, map: FunctionRenumbering): Uint8Array | null {
  const r = new BinaryReader(src, start, end);
  const w = new ByteWriter(end - start + 64 + 32 * (map.addedImports.length + map.addedFunctions.length));
  try {
    while (r.pos < end) {
      const id = r.u8();
      const size = r.u32();
      const subEnd = r.pos + size;
      if (subEnd > end) return null;
      w.u8(id);
      if (id !== SUB_FUNCTIONS && id !== SUB_LOCALS && id !== SUB_LABELS) {
        w.u32(size);
        w.copy(src, r.pos, subEnd);
        r.pos = subEnd;
        continue;
      }
      const body = new ByteWriter(size + 16);
      r.end = subEnd;
      if (id === SUB_FUNCTIONS) functionNames(r, body, map);
      else indirectNames(r, body, map);
      if (r.pos !== subEnd) return null;
      r.end = end;
      const bytes = body.finish();
      w.u32(bytes.length);
      w.bytes(bytes);
    }
  } catch {
    return null;
  }
  return w.finish();
}
