import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { InvalidModule, ModuleNotFound } from '../errors.ts';
import { watToBinary } from '../module/wat.ts';

/** What `run` was given to run, read and classified before anything is compiled. */
export interface ModuleSource {
  /** The file as the user named it (`-` for standard input). */
  readonly name: string;
  /** A binary file on disk, loaded by path so that an unchanged file reuses what was made from it. */
  readonly path: string | undefined;
  readonly kind: 'core' | 'component';
  readonly size: number;
  /** The binary (read on first use for a file on disk; compiled from text for WAT). */
  bytes(): Uint8Array;
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

function hasMagic(head: Uint8Array): boolean {
  return head.length >= 4 && MAGIC.every((b, i) => head[i] === b);
}

/** Bytes 4–7 say core module (version 1) or component (0x0d, layer 1); the decoder reports anything else. */
function kindOf(head: Uint8Array): 'core' | 'component' {
  return head.length >= 8 && head[6] === 1 ? 'component' : 'core';
}

/** WAT text begins, after whitespace and comments, with `(`. */
function looksLikeWat(text: string): boolean {
  const rest = text.replace(/^(?:\s+|;;[^\n]*\n?|\(;[\s\S]*?;\))*/, '');
  return rest.startsWith('(');
}

function describeStart(head: Uint8Array): string {
  if (head.length === 0) return 'it is empty';
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head.subarray(0, 16)).replace(/[^\x20-\x7e]/g, '.');
  return `it begins with '${text}'`;
}

function fromBinary(name: string, path: string | undefined, data: Uint8Array | undefined, size: number, head: Uint8Array): ModuleSource {
  let bytes = data;
  return {
    name,
    path,
    kind: kindOf(head),
    size,
    bytes: () => (bytes ??= readFileSync(path!)),
  };
}

async function fromWat(name: string, text: string): Promise<ModuleSource> {
  const bytes = await watToBinary(name, text);
  return { name, path: undefined, kind: 'core', size: bytes.length, bytes: () => bytes };
}

/**
 * Reads `file` (`-`: standard input) as a WebAssembly binary or WAT text. A missing file is
 * ModuleNotFound; a directory or a file that is neither is InvalidModule saying what it is.
 */
export async function readModuleSource(file: string, stdin: () => Uint8Array = () => readFileSync(0)): Promise<ModuleSource> {
  if (file === '-') {
    const data = stdin();
    if (hasMagic(data)) return fromBinary('-', undefined, data, data.length, data.subarray(0, 8));
    const text = new TextDecoder().decode(data);
    if (looksLikeWat(text)) return fromWat('-', text);
    throw new InvalidModule(`standard input is not a WebAssembly module (a binary begins with '\\0asm', WAT text with '('): ${describeStart(data)}`);
  }
  let size: number;
  let head: Uint8Array;
  try {
    const s = statSync(file);
    if (s.isDirectory()) throw new InvalidModule(`'${file}' is a directory, not a WebAssembly module`);
    size = s.size;
    // Only the preamble is read here: the whole binary is read once, by whatever loads it.
    head = new Uint8Array(16);
    const fd = openSync(file, 'r');
    try {
      head = head.subarray(0, readSync(fd, head, 0, 16, 0));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof InvalidModule) throw err;
    throw new ModuleNotFound(file, `cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (hasMagic(head)) return fromBinary(file, file, undefined, size, head);
  const text = readFileSync(file, 'utf8');
  if (/\.wat$/i.test(file) || looksLikeWat(text)) return fromWat(file, text);
  throw new InvalidModule(`'${file}' is not a WebAssembly module (a binary begins with '\\0asm', WAT text with '('): ${describeStart(head)}`);
}
