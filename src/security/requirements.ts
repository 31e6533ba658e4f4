import { EXTISM_MODULE } from '../communication/guest-abi.ts';
import { isGranted, type GrantKind } from '../host/grants.ts';
import type { ModuleInfo } from '../module/module-info.ts';
import type { Capabilities } from './capabilities.ts';
import { WASM_PAGE_BYTES, type ResourceLimits } from './resource-limits.ts';

export interface Requirement {
  /** The capability or limit involved, e.g. `filesystem`, `hostFunctions`, `memory`. */
  capability: string;
  /** The imports that need it. */
  imports: string[];
  /** Why the policy does not cover it. */
  detail: string;
}

const WASI_MODULES = new Set(['wasi_snapshot_preview1', 'wasi_unstable']);

/** Which WASI preview1 functions depend on which capability; whether it is granted is the core's decision. */
function wasiCapability(name: string, caps: Capabilities): { capability: string; granted: boolean } | undefined {
  const need = (capability: GrantKind, ...alternatives: GrantKind[]) => ({
    capability,
    granted: [capability, ...alternatives].some((k) => isGranted(k, caps)),
  });
  if (name.startsWith('path_') || name === 'fd_readdir' || name === 'fd_prestat_get' || name === 'fd_prestat_dir_name') return need('filesystem');
  if (name.startsWith('sock_')) return need('network');
  if (name.startsWith('clock_') || name === 'poll_oneoff') return need('clock');
  if (name === 'random_get') return need('random');
  if (name.startsWith('environ_')) return need('env');
  if (name.startsWith('args_')) return need('args');
  if (name === 'proc_exit') return need('exit');
  if (name === 'fd_write') return { ...need('stdout', 'stderr', 'filesystem'), capability: 'stdio' };
  if (name === 'fd_read') return { ...need('stdin', 'filesystem'), capability: 'stdio' };
  return undefined;
}

/**
 * What a module would use that a policy does not grant: host functions it cannot link (instantiation
 * would fail), WASI features that would be denied at run time, and limits its declarations exceed.
 */
export function unmetRequirements(info: ModuleInfo, caps: Capabilities, limits: ResourceLimits): Requirement[] {
  const byCapability = new Map<string, Requirement>();
  const add = (capability: string, imp: string, detail: string) => {
    const r = byCapability.get(capability) ?? { capability, imports: [], detail };
    r.imports.push(imp);
    byCapability.set(capability, r);
  };
  for (const imp of info.imports) {
    const full = `${imp.module}.${imp.name}`;
    if (WASI_MODULES.has(imp.module)) {
      const need = wasiCapability(imp.name, caps);
      if (need && !need.granted) add(need.capability, full, `calls will be denied: the policy grants no ${need.capability}`);
    } else if (imp.module === EXTISM_MODULE) {
      // Extism's host ABI is the sandbox's own (the kernel serves it, as the linker does), not a host function.
      continue;
    } else if (imp.kind === 'function' && !caps.allowsHostFunction(imp.module, imp.name)) {
      add('hostFunctions', full, 'instantiation will fail: host function not allowed');
    }
  }
  const maxPages = limits.maxPages;
  if (maxPages !== null) {
    for (const mem of info.memories) {
      if (mem.min > maxPages) {
        add('memory', mem.imported ? 'imported memory' : 'memory', `initial memory ${mem.min * WASM_PAGE_BYTES} bytes exceeds the limit of ${maxPages * WASM_PAGE_BYTES} bytes`);
      }
    }
  }
  return [...byCapability.values()];
}
