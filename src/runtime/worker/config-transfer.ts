/**
 * Carries a ResolvedInstanceConfig to a worker. Functions cannot cross threads, so host functions
 * travel as a list of names the worker links to bridge stubs; capabilities and limits travel as their
 * data, with what their methods would have answered worked out here on the main thread.
 */
import { InvalidArguments } from '../../errors.ts';
import type { ModuleInfo } from '../../module/module-info.ts';
import type { Capabilities } from '../../security/capabilities.ts';
import type { ResourceLimits } from '../../security/resource-limits.ts';
import type { ExternImports, HostFunction, HostFunctions, ResolvedInstanceConfig } from '../types.ts';

export interface PortableConfig {
  /** The plain data of the Capabilities object. */
  capabilities: object;
  /** `module.name` of the imported host functions the capabilities allow. */
  allowedHostFunctions: string[];
  /** The plain data of the ResourceLimits object. */
  resourceLimits: object;
  maxPages: number | null;
  /** Imported host functions the config provides, by bridge index. */
  hostFunctions: [module: string, name: string][];
  imports: ExternImports;
}

/** What the main thread posts before CMD_INSTANTIATE; the worker reads it synchronously, since it never idles. */
export interface InstantiateMessage {
  id: string;
  module: WebAssembly.Module;
  info: ModuleInfo;
  config: PortableConfig;
  /** Exported functions in the order the main thread numbers them. */
  functions: string[];
}

/** Picks what the module imports out of the config; the bridge index of a host function is its position. */
export function exportConfig(config: ResolvedInstanceConfig, info: ModuleInfo): { portable: PortableConfig; hostFunctions: HostFunction[] } {
  const hostFunctions: HostFunction[] = [];
  const names: [string, string][] = [];
  const allowed: string[] = [];
  const imports: ExternImports = {};
  for (const imp of info.imports) {
    if (imp.kind === 'function') {
      const fn = config.hostFunctions[imp.module]?.[imp.name];
      if (typeof fn !== 'function') continue;
      names.push([imp.module, imp.name]);
      hostFunctions.push(fn);
      if (config.capabilities.allowsHostFunction(imp.module, imp.name)) allowed.push(`${imp.module}.${imp.name}`);
      continue;
    }
    const value = config.imports[imp.module]?.[imp.name];
    if (value === undefined) continue;
    // Only shared memories can be handed to another thread; anything else would be a silent copy or a clone error.
    if (!(value instanceof WebAssembly.Memory && value.buffer instanceof SharedArrayBuffer)) {
      throw new InvalidArguments(`imports.${imp.module}.${imp.name}: the worker runtime can only pass shared memories to a guest; tables, globals and unshared memories cannot cross threads (use the in-process runtime)`);
    }
    (imports[imp.module] ??= {})[imp.name] = value;
  }
  return {
    portable: {
      capabilities: { ...config.capabilities },
      allowedHostFunctions: allowed,
      resourceLimits: { ...config.resourceLimits },
      maxPages: config.resourceLimits.maxPages,
      hostFunctions: names,
      imports,
    },
    hostFunctions,
  };
}

/**
 * The worker-side config. Building real Capabilities and ResourceLimits objects would load the policy
 * validator (and Ajv) into every worker, tens of milliseconds per start, to re-check what the main
 * thread already validated; these stand-ins answer the same questions from the transferred data.
 */
export function importConfig(portable: PortableConfig, stub: (index: number, module: string, name: string) => HostFunction): ResolvedInstanceConfig {
  const allowed = new Set(portable.allowedHostFunctions);
  const capabilities = Object.freeze({
    ...portable.capabilities,
    allowsHostFunction: (module: string, name: string) => allowed.has(`${module}.${name}`),
  }) as unknown as Capabilities;
  const resourceLimits = Object.freeze({ ...portable.resourceLimits, maxPages: portable.maxPages }) as unknown as ResourceLimits;
  const hostFunctions: HostFunctions = {};
  portable.hostFunctions.forEach(([module, name], index) => {
    (hostFunctions[module] ??= {})[name] = stub(index, module, name);
  });
  return { capabilities, resourceLimits, hostFunctions, imports: portable.imports };
}
