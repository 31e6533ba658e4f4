/**
 * The outer framing of a binary: the preamble and the section list. Checks what the spec's
 * "malformed" rules say about framing (magic, version, known ids, order, no duplicates, sizes
 * inside the file) so the section decoders can trust their windows.
 */
import type { BinaryReader } from './binary-reader.ts';
import { InvalidModule } from '../errors.ts';

export const SEC_CUSTOM = 0;
export const SEC_TYPE = 1;
export const SEC_IMPORT = 2;
export const SEC_FUNCTION = 3;
export const SEC_TABLE = 4;
export const SEC_MEMORY = 5;
export const SEC_GLOBAL = 6;
export const SEC_EXPORT = 7;
export const SEC_START = 8;
export const SEC_ELEMENT = 9;
export const SEC_CODE = 10;
export const SEC_DATA = 11;
export const SEC_DATA_COUNT = 12;
export const SEC_TAG = 13;

/** Position of each known section id in the mandatory order (tag sits between memory and global). */
export const SECTION_RANK: readonly number[] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6];

const SECTION_NAMES = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'data count', 'tag'];

export function sectionName(id: number): string {
  return SECTION_NAMES[id] ?? `unknown(${id})`;
}

export interface Section {
  id: number;
  /** Offset of the id byte. */
  headerStart: number;
  /** Offset of the first content byte (for custom sections: of the name's length). */
  start: number;
  /** Offset one past the last content byte. */
  end: number;
  /** Custom sections only. */
  name?: string;
}

export type Preamble = 'core' | 'component';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** Reads the 8-byte preamble and tells a core module from a component. */
export function readPreamble(bytes: Uint8Array): Preamble {
  if (bytes.length < 4 || bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2] || bytes[3] !== MAGIC[3]) {
    throw new InvalidModule('not a WebAssembly binary (bad magic)', { offset: 0 });
  }
  if (bytes.length < 8) throw new InvalidModule('truncated preamble: missing version', { offset: bytes.length });
  const version = bytes[4] | (bytes[5] << 8);
  const layer = bytes[6] | (bytes[7] << 8);
  if (layer === 0 && version === 1) return 'core';
  if (layer === 1 && version === 0x0d) return 'component';
  if (layer === 1) throw new InvalidModule(`unsupported component binary version 0x${version.toString(16)}`, { offset: 4 });
  throw new InvalidModule(`unsupported WebAssembly version ${version} (layer ${layer})`, { offset: 4 });
}

/**
 * Lists the sections of a core module after the preamble. `r` must be positioned at offset 8.
 */
export function scanCoreSections(r: BinaryReader): Section[] {
  const sections: Section[] = [];
  let lastRank = 0;
  while (!r.eof()) {
    const headerStart = r.pos;
    const id = r.u8();
    if (id > SEC_TAG) r.fail(`unknown section id ${id}`, headerStart);
    const sizeAt = r.pos;
    const size = r.u32();
    const start = r.pos;
    if (size > r.end - start) r.fail(`${sectionName(id)} section size ${size} exceeds the remaining ${r.end - start} bytes`, sizeAt);
    const end = start + size;
    const section: Section = { id, headerStart, start, end };
    if (id === SEC_CUSTOM) {
      const outer = r.end;
      r.end = end;
      section.name = r.name();
      r.end = outer;
    } else {
      const rank = SECTION_RANK[id];
      if (rank === lastRank) r.fail(`duplicate ${sectionName(id)} section`, headerStart);
      if (rank < lastRank) r.fail(`${sectionName(id)} section out of order`, headerStart);
      lastRank = rank;
    }
    sections.push(section);
    r.pos = end;
  }
  return sections;
}
