/**
 * Positions in an instrumented module mapped back to the module it was made from, so that a trap's
 * frames carry the guest's own function indices and code offsets: what `wasm-objdump`, DWARF tools
 * and the guest's own name section describe.
 */
import type { FunctionRenumbering } from './name-section.ts';

/** Collects the input ranges instrumentation copies verbatim, in output order (see `instrument`). */
export class CopyRecorder {
  private readonly at: number[] = [];
  private readonly start: number[] = [];
  private readonly end: number[] = [];
  functions: FunctionRenumbering | undefined;

  readonly record = (at: number, start: number, end: number): void => {
    // A function body written again from scratch overwrites what was recorded past its start.
    while (this.at.length > 0 && this.at[this.at.length - 1] >= at) {
      this.at.pop();
      this.start.pop();
      this.end.pop();
    }
    this.at.push(at);
    this.start.push(start);
    this.end.push(end);
  };

  finish(): FrameMap {
    return new FrameMap(this.functions, Int32Array.from(this.at), Int32Array.from(this.start), Int32Array.from(this.end));
  }
}

export class FrameMap {
  private readonly functions: FunctionRenumbering | undefined;
  private readonly at: Int32Array;
  private readonly start: Int32Array;
  private readonly end: Int32Array;

  constructor(functions: FunctionRenumbering | undefined, at: Int32Array, start: Int32Array, end: Int32Array) {
    this.functions = functions;
    this.at = at;
    this.start = start;
    this.end = end;
  }

  /** For a module that runs as it was given. */
  static readonly identity = new FrameMap(undefined, new Int32Array(0), new Int32Array(0), new Int32Array(0));

  /** The original index of function `f`, or null for a function the sandbox added. */
  func(f: number): number | null {
    const m = this.functions;
    if (!m || f < m.importedFuncs) return f;
    const shifted = f - m.addedImports.length;
    if (shifted < m.importedFuncs || shifted >= m.importedFuncs + m.definedFuncs) return null;
    return shifted;
  }

  /**
   * The original offset of output offset `o`. Code the sandbox injected maps to the original
   * instruction it precedes (the one whose copy it interrupts), so a check or a rewritten call
   * points at the guest's own instruction.
   */
  offset(o: number): number {
    const { at } = this;
    if (!this.functions) return o;
    let lo = 0;
    let hi = at.length - 1;
    if (hi < 0 || o < at[0]) return o;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (at[mid] <= o) lo = mid;
      else hi = mid - 1;
    }
    const inside = this.start[lo] + (o - at[lo]);
    return inside < this.end[lo] ? inside : this.end[lo];
  }
}
