/** Fixture loading and a per-runtime sandbox for the communication tests. */
import { readFileSync } from 'node:fs';
import { WasmSandbox, type InstanceConfig, type RuntimeKind } from '../../src/index.ts';

export const RUNTIMES: RuntimeKind[] = ['inprocess', 'worker'];

export function fixture(path: string): Uint8Array {
  return readFileSync(new URL(`../../fixtures/abi/${path}`, import.meta.url));
}

/** Runs `fn` with a fresh sandbox of `runtime` and one instance of `path`; closes the sandbox after. */
export async function withInstance(
  runtime: RuntimeKind, path: string, fn: (s: WasmSandbox, id: string) => Promise<void>, config: InstanceConfig = {},
): Promise<void> {
  const sandbox = await WasmSandbox.create({ runtime, workerPoolSize: 0 });
  try {
    const id = await sandbox.createInstance(await sandbox.loadModule(fixture(path)), config);
    await fn(sandbox, id);
  } finally {
    await sandbox.close();
  }
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
