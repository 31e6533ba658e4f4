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

/** Which WASI preview1 functions depend on which capability being granted. */
function wasiCapability(name: string, caps: Capabilities): { capability: string; granted: boolean } | undefined {
  if (name.startsWith('path_') || name === 'fd_readdir' || name === 'fd_prestat_get' || name === 'fd_prestat_dir_name') {
    return { capability: 'filesystem', granted: caps.filesystem.length > 0 };
  }
  if (name.startsWith('sock_')) return { capability: 'network', granted: caps.network !== 'none' };
  if (name.startsWith('clock_') || name === 'poll_oneoff') return { capability: 'clock', granted: caps.clock !== 'none' };
  if (name === 'random_get') return { capability: 'random', granted: caps.random !== 'none' };
  if (name.startsWith('environ_')) return { capability: 'env', granted: caps.env.inherit.length > 0 || Object.keys(caps.env.set).length > 0 };
  if (name.startsWith('args_')) return { capability: 'args', granted: true };
  if (name === 'proc_exit') return { capability: 'exit', granted: caps.exit };
  if (name === 'fd_write') return { capability: 'stdio', granted: caps.stdio.stdout !== 'null' || caps.stdio.stderr !== 'null' || caps.filesystem.length > 0 };
  if (name === 'fd_read') return { capability: 'stdio', granted: caps.stdio.stdin !== 'null' || caps.filesystem.length > 0 };
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
