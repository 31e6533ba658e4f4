/**
 * Entry point for WebAssembly components: loads them (validated, typed, transpiled by jco and
 * cached) and instantiates them under a Capabilities grant and ResourceLimits, with every WASI
 * preview2 import served by our capability-checked host.
 */
import { InvalidModule, ModuleNotFound, SandboxClosed } from '../errors.ts';
import { isComponent, toBytes } from '../module/inspect.ts';
import { Capabilities, type CapabilitiesInit } from '../security/capabilities.ts';
import { ResourceLimits, type ResourceLimitsInit } from '../security/resource-limits.ts';
import { ComponentInstance, type ComponentInstanceOptions } from './component-instance.ts';
import { ComponentModule } from './component-module.ts';
import { checkCacheMaxBytes, defaultCacheDir } from '../cache-dir.ts';
import { contentHash, TranspileCache, type CacheStats } from './transpile-cache.ts';
import { decodeComponent } from './wit/decode-component.ts';
import { componentInterfaces } from './wit/interfaces.ts';
import { checkOptionKeys, type OptionKeys } from '../option-keys.ts';
import { preview3Refusal } from './wasi/preview3.ts';

/** Options of `ComponentRuntime.create`. */
export interface ComponentRuntimeOptions {
  /**
   * Where transpiled components are cached across processes: default `$WASM_SANDBOX_CACHE_DIR`,
   * else `$XDG_CACHE_HOME/wasm-sandbox`, else `~/.cache/wasm-sandbox`; `false` keeps the cache in memory.
   */
  cacheDir?: string | false;
  /**
   * Bytes the cache's `transpiled` folder holds at most on disk; the least recently used entries go
   * first. Default `$WASM_SANDBOX_CACHE_MAX_BYTES`, else 512 MiB.
   */
  cacheMaxBytes?: number;
}

/**
 * Options of `ComponentRuntime.instantiate`; capabilities and limits also take plain data, validated as
 * `Capabilities.from` and `ResourceLimits.from` do.
 */
export interface InstantiateOptions extends Omit<ComponentInstanceOptions, 'capabilities' | 'resourceLimits'> {
  /** What the component may touch; default the runtime's `capabilities`. */
  capabilities?: Capabilities | CapabilitiesInit;
  /** How much it may consume; default the runtime's `resourceLimits`. */
  resourceLimits?: ResourceLimits | ResourceLimitsInit;
}

const INSTANTIATE_OPTIONS: OptionKeys<InstantiateOptions> = {
  capabilities: true, resourceLimits: true, imports: true, reinstantiateOnTrap: true, programName: true, stdin: true, onStdout: true, onStderr: true, interruptible: true,
  onViolation: true, directCalls: true, beforeWait: true,
};

/**
 * Loads WebAssembly components (transpiling them with jco, cached by content hash) and instantiates them with
 * every WASI interface replaced by a capability-checked host. See docs/components.md.
 */
export class ComponentRuntime {
  /** Capabilities of an instance given none. */
  readonly capabilities: Capabilities;
  /** Limits of an instance given none. */
  readonly resourceLimits: ResourceLimits;
  private readonly cache: TranspileCache;
  private readonly instances = new Set<ComponentInstance>();
  private closed = false;

  private constructor(capabilities: Capabilities, resourceLimits: ResourceLimits, options: ComponentRuntimeOptions) {
    this.capabilities = capabilities;
    this.resourceLimits = resourceLimits;
    checkCacheMaxBytes(options.cacheMaxBytes, 'ComponentRuntime.create');
    this.cache = new TranspileCache(options.cacheDir === false ? null : (options.cacheDir ?? defaultCacheDir()), options.cacheMaxBytes);
  }

  /** Defaults used by `instantiate` when it is given none: minimal capabilities, default limits. */
  static async create(
    capabilities: Capabilities | CapabilitiesInit = Capabilities.minimal(),
    resourceLimits: ResourceLimits | ResourceLimitsInit = ResourceLimits.default(),
    options: ComponentRuntimeOptions = {},
  ): Promise<ComponentRuntime> {
    checkOptionKeys<ComponentRuntimeOptions>('ComponentRuntime.create options', options, { cacheDir: true, cacheMaxBytes: true });
    return new ComponentRuntime(Capabilities.from(capabilities), ResourceLimits.from(resourceLimits), options);
  }

  private assertOpen(): void {
    if (this.closed) throw new SandboxClosed();
  }

  /**
   * Validates, types and transpiles a component (transpiled output is cached by content hash, so
   * loading the same bytes again costs no transpilation). A core module is an InvalidModule.
   */
  async createComponentModule(input: Uint8Array | ArrayBuffer): Promise<ComponentModule> {
    this.assertOpen();
    const bytes = toBytes(input);
    if (!isComponent(bytes)) {
      throw new InvalidModule(bytes.length >= 8 && bytes[4] === 1 && bytes[6] === 0
        ? 'this is a core WebAssembly module, not a component; load it with WasmSandbox.loadModule'
        : 'not a WebAssembly component (bad preamble)');
    }
    const copy = bytes.slice();
    const hash = contentHash(copy);
    const decoded = decodeComponent(copy);
    const refusal = preview3Refusal(decoded.imports);
    if (refusal !== undefined) throw new InvalidModule(refusal);
    const transpiled = await this.cache.get(copy, hash);
    return new ComponentModule(copy, hash, decoded, componentInterfaces(decoded), transpiled);
  }

  /**
   * Reads a file and loads it as `createComponentModule` does; an unreadable file is a `ModuleNotFound`
   * naming the path.
   */
  async createComponentModuleFromFile(path: string): Promise<ComponentModule> {
    let bytes: Uint8Array;
    try {
      bytes = await process.getBuiltinModule('node:fs/promises').readFile(path);
    } catch (err) {
      throw new ModuleNotFound(path, `cannot read '${path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return this.createComponentModule(bytes);
  }

  /**
   * A new instance of `component`. Non-WASI imports come from `options.imports` (JavaScript objects
   * or other instances); anything unprovided fails with MissingImports before the guest runs.
   */
  async instantiate<Exports extends object = Record<string, any>>(component: ComponentModule, options: InstantiateOptions = {}): Promise<ComponentInstance<Exports>> {
    this.assertOpen();
    checkOptionKeys<InstantiateOptions>('instantiate options', options, INSTANTIATE_OPTIONS);
    const capabilities = options.capabilities === undefined ? this.capabilities : Capabilities.from(options.capabilities);
    const resourceLimits = options.resourceLimits === undefined ? this.resourceLimits : ResourceLimits.from(options.resourceLimits);
    const instance = new ComponentInstance<Exports>(component, capabilities, resourceLimits, { ...options, capabilities, resourceLimits });
    await instance.start();
    this.instances.add(instance as ComponentInstance);
    instance.onClose = () => this.instances.delete(instance as ComponentInstance);
    return instance;
  }

  /** Transpilation cache counters: how many loads transpiled, and how many were served from the caches. */
  cacheStats(): CacheStats {
    return { ...this.cache.stats };
  }

  /** Closes every instance this runtime created. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const i of [...this.instances]) i.close();
  }
}
