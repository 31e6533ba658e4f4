import { MissingImports, SecurityViolation, type MissingImport } from '../errors.ts';
import type { ModuleInfo } from '../module/module-info.ts';
import type { HostContext } from './host-context.ts';
import type { ResolvedInstanceConfig } from './types.ts';


export interface LinkCounters {
  hostFunctionCalls: number;
}

const EXTERN_CLASS = {
  memory: WebAssembly.Memory,
  table: WebAssembly.Table,
  global: WebAssembly.Global,
} as const;

/**
 * Builds the import object for one instance, or fails with every missing import listed at once.
 * Host functions are linked only when the capabilities allow them, so an embedder's registry of host
 * functions never widens what a given policy grants. `system` holds import modules the sandbox
 * provides itself (WASI, instrumentation), already capability-checked.
 */
export function linkImports(
  info: ModuleInfo,
  config: ResolvedInstanceConfig,
  ctx: HostContext,
  counters: LinkCounters,
  system: Record<string, Record<string, unknown>> = {},
): WebAssembly.Imports {
  const imports: Record<string, Record<string, unknown>> = {};
  const missing: MissingImport[] = [];
  for (const imp of info.imports) {
    const target = (imports[imp.module] ??= {});
    const provided = system[imp.module];
    if (provided) {
      const value = provided[imp.name];
      if (value === undefined) missing.push({ module: imp.module, name: imp.name, kind: imp.kind });
      else target[imp.name] = value;
      continue;
    }
    if (imp.kind === 'function') {
      const fn = config.hostFunctions[imp.module]?.[imp.name];
      if (typeof fn !== 'function') {
        missing.push({ module: imp.module, name: imp.name, kind: 'function' });
        continue;
      }
      if (!config.capabilities.allowsHostFunction(imp.module, imp.name)) {
        throw new SecurityViolation('hostFunctions', `host function '${imp.module}.${imp.name}' is not allowed by the capabilities (grant it with hostFunctions: ['${imp.module}.${imp.name}'])`);
      }
      target[imp.name] = (...args: unknown[]) => {
        counters.hostFunctionCalls++;
        return fn(ctx, ...args);
      };
      continue;
    }
    const value = config.imports[imp.module]?.[imp.name];
    const cls = imp.kind === 'tag' ? undefined : EXTERN_CLASS[imp.kind];
    if (!cls || !(value instanceof cls)) {
      missing.push({ module: imp.module, name: imp.name, kind: imp.kind });
      continue;
    }
    target[imp.name] = value;
  }
  if (missing.length) throw new MissingImports(missing);
  return imports as WebAssembly.Imports;
}
