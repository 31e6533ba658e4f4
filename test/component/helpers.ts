/**
 * Shared scaffolding for the component tests: fixture paths, and runtimes that share one transpile
 * cache under the system temp directory, so the large JS fixtures are transpiled once per machine
 * rather than once per test file.
 */
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ComponentRuntime, type ComponentModule, type ComponentRuntimeOptions } from '../../src/component/index.ts';
import { Capabilities, type CapabilitiesInit } from '../../src/security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../../src/security/resource-limits.ts';

export const COMPONENTS = resolve(dirname(new URL(import.meta.url).pathname), '../../fixtures/components');
export const CACHE_DIR = join(tmpdir(), 'wasm-sandbox-test-cache');

export function fixturePath(name: string): string {
  return join(COMPONENTS, `${name}.wasm`);
}

export async function runtime(
  capabilities: Capabilities | CapabilitiesInit = Capabilities.minimal(),
  limits: ResourceLimits | ResourceLimitsInit = ResourceLimits.default(),
  options: ComponentRuntimeOptions = {},
): Promise<ComponentRuntime> {
  return ComponentRuntime.create(capabilities, limits, { cacheDir: CACHE_DIR, ...options });
}

const loaded = new Map<string, Promise<ComponentModule>>();
let shared: Promise<ComponentRuntime> | undefined;

/** A fixture component, loaded once per test process. */
export function load(name: string): Promise<ComponentModule> {
  let m = loaded.get(name);
  if (!m) {
    shared ??= runtime();
    m = shared.then((rt) => rt.createComponentModuleFromFile(fixturePath(name)));
    loaded.set(name, m);
  }
  return m;
}

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/**
 * A network peer on another thread (a guest's blocking socket or HTTP calls hold this one). `source`
 * is CommonJS that binds, posts its port to `parentPort`, and stops itself on any message.
 */
export async function peerThread(source: string): Promise<{ port: number; close(): Promise<number> }> {
  const worker = new Worker(`const { parentPort } = require('node:worker_threads');\n${source}`, { eval: true });
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  return {
    port,
    close: () => {
      worker.postMessage('stop');
      return new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}
