/**
 * A loaded component: its bytes, what it imports and exports with full WIT types, jco's transpiled
 * glue, and its core modules compiled once per set of limits (instances created under the same
 * limits share the instrumented, compiled code).
 */
import { isPreview3 } from './wasi/preview3.ts';
import { instrument, type InstrumentOptions } from '../module/instrument.ts';
import { acceptedFeatures, checkFeatures } from '../runtime/feature-policy.ts';
import type { Transpiled } from './transpile-cache.ts';
import type { DecodedComponent } from './wit/decode-component.ts';
import { describeComponent, type ComponentDescription } from './wit/describe.ts';
import type { ComponentInterfaces } from './wit/interfaces.ts';
import { printInterfaceBodies } from './wit/print-wit.ts';
import { importOptional } from '../optional-dependency.ts';

const IN_PROCESS_FEATURES = acceptedFeatures('inprocess', undefined);

/**
 * @internal Core modules already instrumented and compiled for one set of instrumentation options
 * (on another thread: compiled code is shared, not compiled again), with their static indices.
 */
export interface PreparedCoreModules {
  /** `ComponentModule.instrumentationKey` of the options they were instrumented for. */
  readonly key: string;
  readonly modules: ReadonlyMap<string, WebAssembly.Module>;
  readonly staticIndices: ReadonlyMap<string, number | undefined>;
}

/**
 * A loaded component: what it imports and exports, its WIT, and its core modules compiled once per set of
 * limits. Made by `ComponentRuntime.createComponentModule`; instantiate it with
 * `ComponentRuntime.instantiate`.
 */
export class ComponentModule {
  /** SHA-256 of the component bytes, hex. */
  readonly hash: string;
  /** Size of the component binary in bytes. */
  readonly size: number;
  /** Names of everything the component imports, e.g. `wasi:cli/environment@0.2.3`. */
  readonly importNames: readonly string[];
  /** Names of everything it exports, e.g. `example:greeter/greet`. */
  readonly exportNames: readonly string[];
  /** @internal */
  readonly bytes: Uint8Array;
  /** @internal */
  readonly decoded: DecodedComponent;
  /** @internal */
  readonly interfaces: ComponentInterfaces;
  /** @internal */
  readonly transpiled: Transpiled;
  private readonly compiled = new Map<string, Promise<Map<string, WebAssembly.Module>>>();
  private description: ComponentDescription | undefined;
  private staticIndices: Map<string, number | undefined> | undefined;
  /** @internal The unversioned `wasi:*` interfaces it imports. */
  readonly wasiImports: ReadonlySet<string>;
  /** @internal The unversioned `wasi:*` interfaces it imports in a WASI 0.3 version. */
  readonly wasi3Imports: ReadonlySet<string>;
  private witText: Promise<string> | undefined;

  /** @internal Use `ComponentRuntime.createComponentModule`. */
  constructor(bytes: Uint8Array, hash: string, decoded: DecodedComponent, interfaces: ComponentInterfaces, transpiled: Transpiled, prepared?: PreparedCoreModules) {
    if (prepared) {
      this.compiled.set(prepared.key, Promise.resolve(new Map(prepared.modules)));
      this.staticIndices = new Map(prepared.staticIndices);
    }
    this.bytes = bytes;
    this.hash = hash;
    this.size = bytes.length;
    this.decoded = decoded;
    this.interfaces = interfaces;
    this.transpiled = transpiled;
    this.importNames = [...decoded.imports.keys()];
    this.exportNames = [...decoded.exports.keys()];
    this.wasiImports = new Set(this.importNames.filter((n) => n.startsWith('wasi:')).map((n) => n.replace(/@.*$/, '')));
    this.wasi3Imports = new Set(this.importNames.filter((n) => n.startsWith('wasi:') && isPreview3(n)).map((n) => n.replace(/@.*$/, '')));
  }

  /** The component's interfaces, functions and types as data (see `ComponentDescription`). */
  describe(): ComponentDescription {
    this.description ??= describeComponent(this.interfaces);
    return structuredClone(this.description);
  }

  /**
   * The component's WIT: the root world as jco's `componentWit` prints it, followed by the bodies of
   * every interface it imports or exports (which `componentWit` leaves out) as nested packages.
   */
  wit(): Promise<string> {
    this.witText ??= (async () => {
      const { componentWit } = await importOptional(() => import('@bytecodealliance/jco-transpile/wasm-tools'));
      const world = (await componentWit(this.bytes)).trimEnd();
      const bodies = printInterfaceBodies(this.interfaces);
      return bodies ? `${world}\n\n${bodies}` : `${world}\n`;
    })();
    return this.witText;
  }

  /**
   * @internal The position (in the component binary) of the core module jco calls `file`, when it
   * is certain: jco numbers its files in binary order (`x.core.wasm`, `x.core2.wasm`, …), and the
   * bytes must match. Undefined for components with core modules inside nested components, whose
   * numbering the direct call path does not rely on.
   */
  staticIndex(file: string): number | undefined {
    if (!this.staticIndices) {
      const flat = this.decoded.coreModules.every((m) => !m.nested);
      this.staticIndices = new Map();
      for (const [name, bytes] of this.transpiled.coreModules) {
        const match = /\.core(\d*)\.wasm$/.exec(name);
        const index = match ? (match[1] ? Number(match[1]) - 1 : 0) : -1;
        const def = this.decoded.coreModules[index];
        const same = flat && def !== undefined && def.end - def.start === bytes.length
          && Buffer.compare(this.bytes.subarray(def.start, def.end), bytes) === 0;
        this.staticIndices.set(name, same ? index : undefined);
      }
    }
    return this.staticIndices.get(file);
  }

  /** @internal What `coreModules` caches compiled modules under. */
  static instrumentationKey(options: InstrumentOptions | null): string {
    return JSON.stringify(options);
  }

  /** @internal The core modules for `options` with their static indices, ready to hand to another thread. */
  async prepare(options: InstrumentOptions | null): Promise<PreparedCoreModules> {
    const modules = await this.coreModules(options);
    const staticIndices = new Map<string, number | undefined>();
    for (const name of modules.keys()) staticIndices.set(name, this.staticIndex(name));
    return { key: ComponentModule.instrumentationKey(options), modules, staticIndices };
  }

  /** @internal Every core module, instrumented for `options` and compiled; cached per options. */
  coreModules(options: InstrumentOptions | null): Promise<Map<string, WebAssembly.Module>> {
    const key = ComponentModule.instrumentationKey(options);
    let entry = this.compiled.get(key);
    if (!entry) {
      entry = (async () => {
        const out = new Map<string, WebAssembly.Module>();
        for (const [name, bytes] of this.transpiled.coreModules) {
          // The engine compiles no views of shared memory (a component handed to another thread is shared).
          const own = bytes.buffer instanceof SharedArrayBuffer ? bytes.slice() : bytes;
          // A component's core modules may run on the caller's thread: they get the in-process feature set.
          checkFeatures(own, 'inprocess', IN_PROCESS_FEATURES, `core module '${name}' of the component`);
          const code = options ? instrument(own, options).bytes : own;
          out.set(name, await WebAssembly.compile(code as Uint8Array<ArrayBuffer>));
        }
        return out;
      })();
      entry.catch(() => this.compiled.delete(key));
      this.compiled.set(key, entry);
    }
    return entry;
  }
}
