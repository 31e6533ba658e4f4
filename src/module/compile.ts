/**
 * Below this size a module is compiled on the calling thread: V8 compiles function bodies lazily, so
 * validating a MiB takes about a millisecond, while `WebAssembly.compile` adds task hops that cost a
 * short-lived process more than the compile itself. Larger modules keep the event loop free.
 */
const SYNC_COMPILE_BYTES = 1 << 20;

export async function compileModule(bytes: Uint8Array): Promise<WebAssembly.Module> {
  const data = bytes as Uint8Array<ArrayBuffer>;
  return bytes.length <= SYNC_COMPILE_BYTES ? new WebAssembly.Module(data) : WebAssembly.compile(data);
}
