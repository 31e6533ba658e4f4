/**
 * What a guest wrote to a captured stream, kept on the main thread as the worker forwards it, so
 * that `output()` answers synchronously, mid-call, and even after the thread was terminated.
 */
export class CapturedStream {
  private chunks: Uint8Array[] = [];
  private length = 0;
  private joined: Uint8Array | undefined;

  append(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.joined = undefined;
  }

  bytes(): Uint8Array {
    if (!this.joined) {
      const out = new Uint8Array(this.length);
      let at = 0;
      for (const c of this.chunks) {
        out.set(c, at);
        at += c.length;
      }
      this.chunks = out.length ? [out] : [];
      this.joined = out;
    }
    return this.joined;
  }
}
