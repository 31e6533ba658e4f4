/** Hand-assembly helpers for binaries the text toolchain cannot express (components, GC types, forged fields). */

export function u32(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function str(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...u32(b.length), ...b];
}

export function section(id: number, content: number[]): number[] {
  return [id, ...u32(content.length), ...content];
}

export const CORE_PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
export const COMPONENT_PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

export function core(...sections: number[][]): Uint8Array {
  return new Uint8Array([...CORE_PREAMBLE, ...sections.flat()]);
}

export function component(...sections: number[][]): Uint8Array {
  return new Uint8Array([...COMPONENT_PREAMBLE, ...sections.flat()]);
}
