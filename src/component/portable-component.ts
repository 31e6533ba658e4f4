/**
 * A loaded component in a form another thread can receive: loading it there costs neither a
 * transpile nor a compile. The binary is copied once into shared memory that every thread reads,
 * the glue is imported from where the main thread imported it, and the core modules travel
 * compiled (instrumented for the limits the receiving thread enforces), so threads share the code.
 */
import type { InstrumentOptions } from '../module/instrument.ts';
import { ComponentModule } from './component-module.ts';
import { importGlue } from './transpile-cache.ts';
import { decodeComponent } from './wit/decode-component.ts';
import { componentInterfaces } from './wit/interfaces.ts';

export interface PortableComponent {
  /** The component binary, in a SharedArrayBuffer. */
  readonly bytes: Uint8Array;
  readonly hash: string;
  readonly glueUrl: string;
  readonly imports: readonly string[];
  /** Core modules by jco's file name: the bytes (a view of `bytes` when they are a slice of it), and compiled. */
  readonly coreModules: readonly PortableCoreModule[];
  /** `ComponentModule.instrumentationKey` of the options the modules were compiled for. */
  readonly key: string;
}

interface PortableCoreModule {
  readonly name: string;
  /** Where in the component binary its bytes are, when they are exactly a slice of it. */
  readonly staticIndex: number | undefined;
  readonly range: readonly [start: number, end: number] | undefined;
  /** The bytes, when they are not a slice of the binary. */
  readonly bytes: Uint8Array | undefined;
  readonly module: WebAssembly.Module;
}

/** Prepares `component` for threads whose instances are instrumented with `instrumentation`. */
export async function toPortable(component: ComponentModule, instrumentation: InstrumentOptions | null): Promise<PortableComponent> {
  const shared = new Uint8Array(new SharedArrayBuffer(component.bytes.length));
  shared.set(component.bytes);
  const prepared = await component.prepare(instrumentation);
  const coreModules: PortableCoreModule[] = [];
  for (const [name, module] of prepared.modules) {
    const staticIndex = prepared.staticIndices.get(name);
    // A static index means the bytes matched that slice of the binary exactly.
    const def = staticIndex === undefined ? undefined : component.decoded.coreModules[staticIndex];
    coreModules.push({
      name,
      staticIndex,
      range: def ? [def.start, def.end] : undefined,
      bytes: def ? undefined : component.transpiled.coreModules.get(name),
      module,
    });
  }
  const t = component.transpiled;
  return { bytes: shared, hash: component.hash, glueUrl: t.glueUrl, imports: [...t.imports], coreModules, key: prepared.key };
}

/** The component again, on the receiving thread. */
export async function fromPortable(p: PortableComponent): Promise<ComponentModule> {
  const decoded = decodeComponent(p.bytes);
  const coreBytes = new Map<string, Uint8Array>();
  const modules = new Map<string, WebAssembly.Module>();
  const staticIndices = new Map<string, number | undefined>();
  for (const m of p.coreModules) {
    coreBytes.set(m.name, m.range ? p.bytes.subarray(m.range[0], m.range[1]) : m.bytes!);
    modules.set(m.name, m.module);
    staticIndices.set(m.name, m.staticIndex);
  }
  const transpiled = { hash: p.hash, instantiate: await importGlue(p.glueUrl), glueUrl: p.glueUrl, coreModules: coreBytes, imports: p.imports };
  return new ComponentModule(p.bytes, p.hash, decoded, componentInterfaces(decoded), transpiled, { key: p.key, modules, staticIndices });
}
